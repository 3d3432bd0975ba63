"""The Triton bit packing (``kernels/triton/bits.py``) through ``kernels/cpu/bits.py``'s
``pack`` / ``unpack`` against the torch path, in Triton's interpreter on CPU tensors
(``TRITON_INTERPRET=1``), and its first-use check. (The kernels launched directly, by
hand, and compiled for a real GPU: ``test_kernels_triton_bits_kernels.py``.)"""

from __future__ import annotations

import pytest
import torch

triton = pytest.importorskip("triton")

from spikeforge.kernels.cpu import bits  # noqa: E402
from spikeforge.kernels.triton import bits as tbits  # noqa: E402

pytestmark = pytest.mark.usefixtures("interpret")  # see conftest.py

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def _spikes(n: int, dtype: torch.dtype, value: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    fire = torch.rand(n, generator=g) < 0.3
    return torch.where(fire, value, 0.0).to(dtype)  # +0.0 where silent (0 · -2 is -0.0)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n", [1, 9, 3001])  # one element, one ragged program, several
@pytest.mark.parametrize("value", [0.75, -2.0, 0.0])  # graded, negative, all silent
def test_pack_and_unpack_equal_the_torch_path(dtype, n, value):
    x = _spikes(n, dtype, value).reshape(-1)
    want = bits.pack(x, impl="torch")
    got = bits.pack(x, impl="triton")
    assert want is not None and got is not None
    assert torch.equal(got[0], want[0]) and got[1] == want[1]
    back = bits.unpack(got[0], n, got[1], dtype, impl="triton")
    assert back.dtype == dtype and torch.equal(back.view(-1), x)  # bit for bit, +0.0 kept


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("spoil", ["second value late", "nan", "minus zero", "inf", "only -0.0"])
def test_tensors_that_are_not_spikes_are_refused_like_the_torch_path(dtype, spoil):
    x = _spikes(3001, dtype, 1.0)
    if spoil == "second value late":
        x[2999] = 0.5  # past the 256-element look at the start and in the last program
    elif spoil == "nan":
        x[x != 0] = float("nan")
    elif spoil == "minus zero":
        x[1500] = -0.0  # nonzero bit pattern beside the spikes' 1.0
    elif spoil == "inf":
        x[x != 0] = float("inf")
    else:
        x = torch.zeros(3001, dtype=dtype)
        x[2000] = -0.0
    assert bits.pack(x, impl="torch") is None
    assert bits.pack(x, impl="triton") is None


def _check(dtype):
    fmt = bits.FORMATS[dtype]
    reference = lambda x: bits.pack(x, impl="torch")  # noqa: E731
    return tbits._check(torch.device("cpu"), dtype, reference, fmt.int_dtype, fmt.width)


def test_the_first_use_check_passes_and_catches_a_wrong_kernel(monkeypatch):
    for dtype in (torch.float32, torch.bfloat16):  # the interpreter is slow: two widths
        assert _check(dtype) is None
    real = tbits.pack

    def one_bit_off(words, width):
        packed, pattern = real(words, width)
        packed[0] ^= 1
        return packed, pattern

    monkeypatch.setattr(tbits, "pack", one_bit_off)
    assert "differed from the torch path" in _check(torch.float32)


@pytest.mark.no_interpreter
def test_cpu_tensors_without_the_interpreter_are_refused_by_name(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(ValueError, match="run on CUDA tensors, got one on cpu"):
        bits.pack(torch.zeros(8), impl="triton")
    assert bits.pack(torch.ones(8), impl="auto") is not None  # C or torch on the CPU
    with pytest.raises(ValueError, match="impl must be one of"):
        bits.pack(torch.zeros(8), impl="cuda")
