"""Spike-valued tensors as one bit per element: the C kernels of ``bits.c`` (ctypes) and a
vectorised torch implementation with the same results, used where the C library is
unavailable and for tensors off the CPU.

A tensor is *spike-valued* when every element is ``+0.0`` or one common value ``s`` (the
first nonzero element): 0/1 spikes and graded spikes ``λ·S`` both are. ``s`` must be
finite and not ``-0.0``; a NaN, a ``-0.0`` or a second distinct nonzero value anywhere
means "not spikes". Packed, such a tensor is ``bits`` ``[ceil(n / 8)]`` uint8 (element
``i`` is bit ``i % 8`` of byte ``i // 8``, padding bits 0) plus ``s``'s bit pattern as an
unsigned integer (``0`` for an all-zero tensor). Comparing bit patterns is exact: for
values that are neither NaN nor ``-0.0``, equal values have equal patterns.

The C pack is one pass that stops at the first chunk holding a third value (a serial
look at the first 256 elements refuses most non-spike tensors before any thread
starts); both directions use AVX-512 where compiled in (AVX2 for 32/64-bit pack, plain
C otherwise; ``level`` selects, and tests compare all levels) and
``torch.get_num_threads()`` OpenMP threads for large tensors. Unpacked float32/float64
outputs of 1 MiB or more come from the kernels' buffer pool (:mod:`._pool`), like the
neuron kernels' outputs: a fresh allocation would pay a page fault per 4 KiB.
"""

from __future__ import annotations

import ctypes
import threading
from typing import NamedTuple

import torch

from . import _build
from ._pool import POOL

IMPLS = ("auto", "c", "torch", "triton")
PREFIX = 256  # elements the torch path checks first (the C kernel's serial look, too)
LEVEL = 2  # widest SIMD the C kernels may use: 2 AVX-512, 1 AVX2, 0 plain C


class Format(NamedTuple):
    """How a float dtype's bit patterns are read: width, integer view, -0.0, exponent."""

    width: int
    int_dtype: torch.dtype
    sign: int
    exponent: int


FORMATS = {
    torch.float32: Format(32, torch.int32, 1 << 31, 0x7F800000),
    torch.float64: Format(64, torch.int64, 1 << 63, 0x7FF << 52),
    torch.float16: Format(16, torch.int16, 1 << 15, 0x7C00),
    torch.bfloat16: Format(16, torch.int16, 1 << 15, 0x7F80),
}
_CTYPE = {16: ctypes.c_uint16, 32: ctypes.c_uint32, 64: ctypes.c_uint64}
_declared: set[int] = set()
_declare_lock = threading.Lock()


def _check(x: torch.Tensor) -> Format:
    if x.dtype not in FORMATS:
        names = ", ".join(str(d) for d in FORMATS)
        raise TypeError(f"bit packing takes {names} tensors, got {x.dtype}")
    if not x.is_contiguous():
        raise ValueError(f"bit packing needs a contiguous tensor, got strides {x.stride()}")
    return FORMATS[x.dtype]


def _valid(pattern: int, fmt: Format) -> bool:
    """Is ``pattern`` acceptable as the common nonzero value (not -0.0, finite)?"""
    return pattern != fmt.sign and (pattern & fmt.exponent) != fmt.exponent


def _signed(pattern: int, width: int) -> int:
    return pattern - (1 << width) if pattern >> (width - 1) else pattern


def nbytes(numel: int) -> int:
    """Bytes of the packed bits of ``numel`` elements."""
    return (numel + 7) // 8


def c_library() -> ctypes.CDLL | None:
    """The C library with the bit kernels declared, or ``None`` when it is unavailable
    (warned once per process, like the neuron kernels)."""
    lib = _build.library()
    if lib is None:
        _build.warn_unavailable()
        return None
    for width in (16, 32, 64):
        if width in _declared:
            continue
        with _declare_lock:
            p, i64, i32, word = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, _CTYPE[width]
            pack = getattr(lib, f"sf_bits_pack_w{width}")
            pack.restype = i32
            pack.argtypes = [p, i64, p, p, word, word, i32, i32]  # x n bits value sign exp thr lvl
            unpack = getattr(lib, f"sf_bits_unpack_w{width}")
            unpack.restype = None
            unpack.argtypes = [p, i64, word, p, i32, i32]  # bits n value out threads level
            _declared.add(width)
    return lib


def _use_c(x: torch.Tensor, impl: str) -> bool:
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {', '.join(map(repr, IMPLS))}, got {impl!r}")
    if impl in ("torch", "triton"):
        return False
    if x.device.type != "cpu":
        if impl == "c":
            raise ValueError(f"the C bit kernels need CPU tensors, got one on {x.device}")
        return False
    if c_library() is None:
        if impl == "c":
            raise RuntimeError(f"the C kernels are unavailable: {_build.unavailable_reason()}")
        return False
    return True


def _use_triton(t: torch.Tensor, impl: str, dtype: torch.dtype) -> bool:
    """The Triton kernels (:mod:`spikeforge.kernels.triton.bits`) for ``dtype`` spikes on
    ``t``'s device: asked for, or ``auto`` on CUDA where they passed their first-use
    check."""
    from ..triton import bits as triton_bits

    if impl == "triton":
        reason = triton_bits.device_reason(t)
        if reason is not None:
            raise ValueError(reason)
        return True
    if impl != "auto" or t.device.type != "cuda":
        return False
    fmt = FORMATS[dtype]
    reason = triton_bits.self_check_reason(
        t, dtype, lambda x: _pack_torch(x, fmt), fmt.int_dtype, fmt.width
    )
    return reason is None


def pack(
    x: torch.Tensor, impl: str = "auto", level: int = LEVEL
) -> tuple[torch.Tensor, int] | None:
    """``(bits [ceil(n / 8)] uint8, s's bit pattern)`` of the contiguous tensor ``x`` (any
    shape, ``n`` elements), or ``None`` if ``x`` is not spike-valued. ``impl``: ``"c"``,
    ``"torch"``, ``"triton"`` or ``"auto"`` (C on CPU when the library loads, Triton on
    CUDA when it is installed and passed its first-use check, torch otherwise)."""
    fmt = _check(x)
    if _use_c(x, impl):
        return _pack_c(x, fmt, level)
    if _use_triton(x, impl, x.dtype):
        return _pack_triton(x, fmt)
    return _pack_torch(x, fmt)


def unpack(
    bits: torch.Tensor,
    numel: int,
    pattern: int,
    dtype: torch.dtype,
    impl: str = "auto",
    level: int = LEVEL,
) -> torch.Tensor:
    """The ``[numel]`` tensor of ``dtype`` that :func:`pack` turned into ``bits`` and
    ``pattern`` (element ``i`` = ``s`` where bit ``i`` is set, else ``+0.0``)."""
    if dtype not in FORMATS:
        raise TypeError(f"bit unpacking makes {', '.join(map(str, FORMATS))}, got {dtype}")
    if bits.dtype != torch.uint8 or bits.dim() != 1 or bits.numel() != nbytes(numel):
        raise ValueError(
            f"bits must be uint8 [{nbytes(numel)}] for {numel} elements, got "
            f"{bits.dtype} {list(bits.shape)}"
        )
    fmt = FORMATS[dtype]
    if _use_c(bits, impl):
        return _unpack_c(bits.contiguous(), numel, pattern, dtype, fmt, level)
    if _use_triton(bits, impl, dtype):
        from ..triton import bits as triton_bits

        words = triton_bits.unpack(bits.contiguous(), numel, _signed(pattern, fmt.width),
                                   fmt.int_dtype)  # fmt: skip
        return words.view(dtype)
    return _unpack_torch(bits, numel, pattern, dtype, fmt)


def _pack_c(x: torch.Tensor, fmt: Format, level: int) -> tuple[torch.Tensor, int] | None:
    lib = c_library()
    assert lib is not None  # _use_c checked
    n = x.numel()
    bits = torch.empty(nbytes(n), dtype=torch.uint8)
    value = _CTYPE[fmt.width](0)
    fn = getattr(lib, f"sf_bits_pack_w{fmt.width}")
    threads = max(1, torch.get_num_threads())
    ok = fn(x.data_ptr(), n, bits.data_ptr(), ctypes.byref(value), fmt.sign, fmt.exponent,
            threads, level)  # fmt: skip
    return (bits, int(value.value)) if ok else None


def _unpack_c(
    bits: torch.Tensor, numel: int, pattern: int, dtype: torch.dtype, fmt: Format, level: int
) -> torch.Tensor:
    lib = c_library()
    assert lib is not None
    out = POOL.empty((numel,), dtype)
    fn = getattr(lib, f"sf_bits_unpack_w{fmt.width}")
    fn(bits.data_ptr(), numel, pattern, out.data_ptr(), max(1, torch.get_num_threads()), level)
    return out


def _pack_triton(x: torch.Tensor, fmt: Format) -> tuple[torch.Tensor, int] | None:
    from ..triton import bits as triton_bits

    words = x.reshape(-1).view(fmt.int_dtype)
    if _spikes_in(words[:PREFIX], fmt) is None:
        return None  # the start first (a few small launches): most non-spikes end here
    bits, pattern = triton_bits.pack(words, fmt.width)
    if pattern is None or (pattern and not _valid(pattern, fmt)):
        return None
    return bits, pattern


def _spikes_in(part: torch.Tensor, fmt: Format) -> tuple[torch.Tensor, int] | None:
    """``(part == s, s's pattern)`` if every nonzero pattern of the integer view ``part``
    is one valid ``s`` (``(all False, 0)`` when there is none), else ``None``."""
    nonzero = part != 0
    if not bool(nonzero.any()):
        return torch.zeros_like(part, dtype=torch.bool), 0
    first = int(nonzero.to(torch.uint8).argmax())  # argmax gives the first maximum
    s = part[first]
    pattern = int(s) & ((1 << fmt.width) - 1)
    if not _valid(pattern, fmt):
        return None
    equal = part == s
    return (equal, pattern) if bool(torch.all(equal | ~nonzero)) else None


def _pack_torch(x: torch.Tensor, fmt: Format) -> tuple[torch.Tensor, int] | None:
    words = x.reshape(-1).view(fmt.int_dtype)
    # the start first, as the C kernel does: most non-spike tensors end here
    if _spikes_in(words[:PREFIX], fmt) is None:
        return None
    found = _spikes_in(words, fmt)
    if found is None:
        return None
    equal, pattern = found
    n = words.numel()
    padded = torch.zeros(nbytes(n) * 8, dtype=torch.uint8, device=x.device)
    padded[:n] = equal.to(torch.uint8)
    weights = torch.tensor([1 << j for j in range(8)], dtype=torch.uint8, device=x.device)
    bits = (padded.view(-1, 8) * weights).sum(1, dtype=torch.uint8)
    return bits, pattern


def _unpack_torch(
    bits: torch.Tensor, numel: int, pattern: int, dtype: torch.dtype, fmt: Format
) -> torch.Tensor:
    shifts = torch.arange(8, dtype=torch.uint8, device=bits.device)
    mask = ((bits.unsqueeze(1) >> shifts) & 1).reshape(-1)[:numel].bool()
    words = torch.zeros(numel, dtype=fmt.int_dtype, device=bits.device)
    words.masked_fill_(mask, _signed(pattern, fmt.width))
    return words.view(dtype)
