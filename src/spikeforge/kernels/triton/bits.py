"""Spike-valued tensors as bits on CUDA: the Triton kernels of ``_bits_kernels.py``, with
the format and results of :mod:`spikeforge.kernels.cpu.bits` (which calls them for CUDA
tensors; ``train.memory=compact`` on a GPU).

Pack is one launch (each program packs its bytes and reports the smallest and largest
nonzero bit pattern it saw) and one two-number read back: the tensor is spike-valued when
every nonzero element has the same pattern (and that value is finite and not ``-0.0``).
Unpack is one launch. The torch path of ``cpu/bits.py`` needs about ten passes and
several reads back for the same result.

Checked like the neuron kernels: in Triton's interpreter on every test run (CPU tensors,
``TRITON_INTERPRET=1``), compiled for sm_90 without a GPU, and on a real GPU the first
use per device and dtype is compared with the torch path (:func:`self_check_reason`); on
a difference the torch path is used, with one warning.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import warnings
from collections.abc import Callable
from types import ModuleType

import torch

from .lif import load_source

PACK_BYTES = 128  # bytes per pack program (1024 elements)
UNPACK_BLOCK = 1024  # elements per unpack program
# integer work only; said explicitly, since Triton 3.9 warns when fp fusion is left unset
LAUNCH = {"enable_fp_fusion": False}
_RESULTS: dict[tuple[object, ...], str | None] = {}


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


@functools.cache
def _triton_found() -> bool:
    return importlib.util.find_spec("triton") is not None


def device_reason(x: torch.Tensor) -> str | None:
    """Why these kernels cannot take ``x``'s device, or ``None`` (CUDA tensors; CPU ones
    only under ``TRITON_INTERPRET=1``)."""
    if not _triton_found():
        return "triton is not installed"
    if x.device.type == "cuda" or (x.device.type == "cpu" and _interpreting()):
        return None
    return f"the triton bit kernels run on CUDA tensors, got one on {x.device}"


def _build(interpret: bool) -> ModuleType:
    """``_bits_kernels.py`` as compiled or interpreted kernels (:func:`.lif.load_source`)."""
    return load_source("_bits_kernels.py", interpret)


def _kernels() -> ModuleType:
    import triton

    return _build(bool(triton.knobs.runtime.interpret))


def pack(words: torch.Tensor, width: int) -> tuple[torch.Tensor, int | None]:
    """``(bits [ceil(n / 8)] uint8, the common nonzero pattern)`` of the flat integer view
    ``words`` ``[n]`` (``width`` bits per element): the pattern is unsigned, ``0`` when
    every element is zero, and ``None`` when the nonzero elements differ (not spikes;
    the bits are then meaningless). Finite and ``-0.0`` checks are the caller's."""
    import triton

    n = words.numel()
    nbytes = -(-n // 8)
    programs = max(1, triton.cdiv(n, PACK_BYTES * 8))
    bits = torch.empty(nbytes, dtype=torch.uint8, device=words.device)
    lo = torch.empty(programs, dtype=words.dtype, device=words.device)
    hi = torch.empty_like(lo)
    top = (1 << (width - 1)) - 1
    _kernels().pack_bits[(programs,)](
        words, bits, lo, hi, n, nbytes, BYTES=PACK_BYTES, TOP=top, **LAUNCH
    )
    low, high = torch.stack([lo.min(), hi.max()]).tolist()
    if low == top:
        return bits, 0  # no nonzero element anywhere
    if low != high:
        return bits, None
    return bits, int(low) & ((1 << width) - 1)


def unpack(
    bits: torch.Tensor, numel: int, signed_pattern: int, int_dtype: torch.dtype
) -> torch.Tensor:
    """The ``[numel]`` integer view that :func:`pack` read: ``signed_pattern`` where a bit
    is set, else 0."""
    import triton

    out = torch.empty(numel, dtype=int_dtype, device=bits.device)
    if numel:
        grid = (triton.cdiv(numel, UNPACK_BLOCK),)
        _kernels().unpack_bits[grid](bits, out, signed_pattern, numel, BLOCK=UNPACK_BLOCK, **LAUNCH)
    return out


def _signed(pattern: int, width: int) -> int:
    return pattern - (1 << width) if pattern >> (width - 1) else pattern


Reference = Callable[[torch.Tensor], "tuple[torch.Tensor, int] | None"]


def self_check_reason(
    t: torch.Tensor, dtype: torch.dtype, reference: Reference, int_dtype: torch.dtype, width: int
) -> str | None:
    """``None`` if the kernels may pack or unpack ``dtype`` spikes on ``t``'s device —
    checked once per device and dtype against ``reference`` (the torch path's pack of a
    float tensor) on a seeded spike tensor of ragged length and on one with a second
    value — else the reason. Interpreted runs are not checked here (the tests compare
    them directly)."""
    reason = device_reason(t)
    if reason is not None or t.device.type != "cuda":
        return reason
    key = (t.device, dtype)
    if key not in _RESULTS:
        _RESULTS[key] = _check(t.device, dtype, reference, int_dtype, width)
        if _RESULTS[key] is not None:
            warnings.warn(
                f"spikeforge: triton bit packing disabled on {t.device} for {dtype}: "
                f"{_RESULTS[key]}; the torch path packs instead",
                stacklevel=3,
            )
    return _RESULTS[key]


def _check(
    device: torch.device,
    dtype: torch.dtype,
    reference: Reference,
    int_dtype: torch.dtype,
    width: int,
) -> str | None:
    generator = torch.Generator().manual_seed(0)
    fire = torch.rand(5003, generator=generator) < 0.3
    spikes = torch.where(fire, 0.75, 0.0).to(dtype).to(device)
    try:
        want = reference(spikes)
        got = pack(spikes.view(int_dtype), width)
        if want is None or got[1] != want[1] or not torch.equal(got[0], want[0]):
            return "packing a spike tensor differed from the torch path"
        back = unpack(got[0], spikes.numel(), _signed(want[1], width), int_dtype)
        if not torch.equal(back, spikes.view(int_dtype)):
            return "unpacking differed from the packed tensor"
        mixed = spikes.clone()
        mixed[4000] = 0.5
        if pack(mixed.view(int_dtype), width)[1] is not None:
            return "a tensor with two nonzero values was taken for spikes"
    except Exception as exc:  # a compile or launch failure: the torch path works
        return f"{type(exc).__name__}: {exc}"
    return None
