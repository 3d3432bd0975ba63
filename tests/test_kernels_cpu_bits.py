"""Spike tensors as bits (``kernels/cpu/bits.py`` + ``bits.c``): the bits against numpy's
little-endian ``packbits`` of ``x == s``, the C kernel at every SIMD level and thread
count against the torch implementation, the refusals (-0.0, NaN, inf, a second value,
late or in another thread's range), the early exit, and the fallback without C."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from spikeforge.kernels.cpu import _build, bits

SIZES = (1, 7, 8, 9, 63, 64, 65, 255, 256, 257, 1000, 4097, 70001, 300007)
DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
# (impl, level): the plain C loop, AVX2 (where compiled; else plain), AVX-512, torch
IMPLS = (("c", 0), ("c", 1), ("c", 2), ("torch", 2))


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _needs_c() -> None:
    reason = _build.unavailable_reason()
    if reason is not None:
        pytest.skip(f"C kernels unavailable: {reason}")


def _reference(x: torch.Tensor, s: float) -> torch.Tensor:
    """Bit i = (x[i] == s), numpy's packbits (little-endian bit order): independent."""
    flat = x.reshape(-1).float().numpy() if x.dtype == torch.bfloat16 else x.reshape(-1).numpy()
    equal = flat == np.asarray(s, dtype=flat.dtype) if s != 0 else np.zeros(flat.shape, bool)
    return torch.from_numpy(np.packbits(equal, bitorder="little"))


def _pattern(s: float, dtype: torch.dtype) -> int:
    fmt = bits.FORMATS[dtype]
    word = int(torch.tensor([s], dtype=dtype).view(fmt.int_dtype)[0])
    return word & ((1 << fmt.width) - 1)


def _spikes(n: int, dtype: torch.dtype, scale: float = 1.0, p: float = 0.3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    # where, not a product: (0 * -2.5) is -0.0, which is not a spike zero
    return torch.where(torch.rand(n, generator=g) < p, scale, 0.0).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("impl,level", IMPLS)
def test_round_trip_is_exact_and_the_bits_are_packbits(dtype, impl, level):
    if impl == "c":
        _needs_c()
    for n in SIZES:
        for scale in (1.0, 0.375, -2.5):  # 0/1 spikes and graded λ·S (any sign)
            x = _spikes(n, dtype, scale, seed=n)
            out = bits.pack(x, impl=impl, level=level)
            assert out is not None, (n, scale)
            packed, pattern = out
            s = scale if bool((x != 0).any()) else 0.0
            assert pattern == (_pattern(s, dtype) if s else 0)
            assert torch.equal(packed, _reference(x, s)), (n, scale)
            back = bits.unpack(packed, n, pattern, dtype, impl=impl, level=level)
            assert back.dtype == dtype and back.shape == (n,)
            # bit-exact, including the sign of every zero
            fmt = bits.FORMATS[dtype]
            assert torch.equal(back.view(fmt.int_dtype), x.view(fmt.int_dtype))


@pytest.mark.parametrize("impl,level", IMPLS)
def test_all_zero_and_shapes(impl, level):
    if impl == "c":
        _needs_c()
    for n in (5, 4096, 100003):
        x = torch.zeros(n)
        packed, pattern = bits.pack(x, impl=impl, level=level)
        assert pattern == 0 and not bool(packed.any()) and packed.numel() == (n + 7) // 8
        assert torch.equal(bits.unpack(packed, n, 0, torch.float32, impl=impl), x)
    x = _spikes(6 * 7 * 11, torch.float32).reshape(6, 7, 11)  # any shape, read flat
    packed, pattern = bits.pack(x, impl=impl, level=level)
    assert torch.equal(packed, _reference(x, 1.0))


def _place(n: int, index: int, value: float, dtype=torch.float32) -> torch.Tensor:
    x = _spikes(n, dtype)
    x[index] = value
    return x


REFUSED = {
    "negative zero": lambda n: _place(n, n // 2, -0.0),
    "only negative zeros": lambda n: torch.zeros(n).index_fill_(0, torch.tensor([3, n - 1]), -0.0),
    "nan": lambda n: _place(n, 1, float("nan")),
    "negative scale as a product": lambda n: _spikes(n, torch.float32) * -2.5,
    "all nan": lambda n: torch.full((n,), float("nan")),
    "inf": lambda n: torch.zeros(n).index_fill_(0, torch.tensor([n // 3, n - 2]), float("inf")),
    "second value at the start": lambda n: _place(n, 2, 0.5),
    "second value last": lambda n: _place(n, n - 1, 2.0),
    "second value in the middle": lambda n: _place(n, n // 2 + 1, 3.0),
    "graded then another scale": lambda n: torch.cat(
        [_spikes(n // 2, torch.float32, 0.5), _spikes(n - n // 2, torch.float32, 0.25, seed=1)]
    ),
    "zeros then two values in two halves": lambda n: torch.cat(
        [torch.zeros(300), _spikes(n // 2, torch.float32), 2 * _spikes(n // 2, torch.float32)]
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
@pytest.mark.parametrize("impl,level", IMPLS)
def test_not_spike_valued_is_refused(case, impl, level):
    if impl == "c":
        _needs_c()
    for n in (200, 70001, 600000):  # serial start only; one thread; split over threads
        x = REFUSED[case](n)
        for threads in (1, 2):
            with _threads(threads):
                assert bits.pack(x, impl=impl, level=level) is None, (case, n, threads)


def test_float16_and_bfloat16_refuse_their_own_inf():
    for dtype in (torch.float16, torch.bfloat16):
        x = torch.zeros(5000, dtype=dtype)
        x[7] = float("inf")
        for impl, level in IMPLS:
            if impl == "c" and _build.unavailable_reason() is not None:
                continue
            assert bits.pack(x, impl=impl, level=level) is None
        x[7] = 65504 if dtype == torch.float16 else 3e38  # the largest finite values pack
        assert bits.pack(x, impl="torch") is not None


def test_c_and_torch_agree_on_threads_and_random_tensors():
    _needs_c()
    g = torch.Generator().manual_seed(3)
    for trial in range(20):
        n = int(torch.randint(1, 400000, (1,), generator=g))
        x = (torch.rand(n, generator=g) < 0.05).float() * 0.75
        if trial % 3 == 0:  # a third value at a random place
            x[int(torch.randint(0, n, (1,), generator=g))] = 0.5
        expected = bits.pack(x, impl="torch")
        for threads in (1, 2):
            with _threads(threads):
                got = bits.pack(x, impl="c")
                assert (got is None) == (expected is None)
                if got is not None:
                    assert torch.equal(got[0], expected[0]) and got[1] == expected[1]
                    assert torch.equal(bits.unpack(got[0], n, got[1], torch.float32), x)


def test_a_non_spike_tensor_is_refused_without_a_full_pass():
    """The refusal of a conv-like tensor looks at its start only: far faster than packing
    a spike tensor of the same size (which reads all 32 MiB)."""
    _needs_c()
    n = 8 * 1024 * 1024
    spikes = _spikes(n, torch.float32, seed=5)
    dense = torch.randn(n)
    pack_s, refuse_s = [], []
    for _ in range(5):  # the minimum of several: the machine may be busy
        start = time.perf_counter()
        assert bits.pack(spikes, impl="c") is not None
        pack_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert bits.pack(dense, impl="c") is None
        refuse_s.append(time.perf_counter() - start)
    assert min(refuse_s) < 0.1 * min(pack_s), (refuse_s, pack_s)


def test_without_the_c_library_torch_gives_the_same_result(monkeypatch):
    state = _build._State(lib=None, reason="simulated: no compiler", tried=True)
    monkeypatch.setattr(_build, "STATE", state)
    x = _spikes(10001, torch.float32, 0.5)
    expected = bits.pack(x, impl="torch")
    with pytest.warns(RuntimeWarning, match="simulated: no compiler"):
        got = bits.pack(x)  # auto: falls back, warns once
    assert torch.equal(got[0], expected[0]) and got[1] == expected[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(bits.unpack(got[0], x.numel(), got[1], x.dtype), x)
    with pytest.raises(RuntimeError, match="simulated: no compiler"):
        bits.pack(x, impl="c")


def test_bad_input_is_named():
    with pytest.raises(TypeError, match=r"got torch.int64"):
        bits.pack(torch.zeros(10, dtype=torch.int64))
    with pytest.raises(ValueError, match="contiguous"):
        bits.pack(torch.zeros(10, 10).t())
    with pytest.raises(ValueError, match="impl must be"):
        bits.pack(torch.zeros(10), impl="cuda")
    with pytest.raises(ValueError, match=r"uint8 \[2\] for 10 elements, got torch.uint8 \[3\]"):
        bits.unpack(torch.zeros(3, dtype=torch.uint8), 10, 0, torch.float32)
    with pytest.raises(TypeError, match="got torch.int32"):
        bits.unpack(torch.zeros(2, dtype=torch.uint8), 10, 0, torch.int32)
