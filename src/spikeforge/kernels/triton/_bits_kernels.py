"""Triton source of the spike bit-packing kernels (executed by ``bits._build``, never
imported; module-level on purpose, as ``_kernels.py`` explains).

Layout as :mod:`spikeforge.kernels.cpu.bits`: element ``i`` of the flat tensor is bit
``i % 8`` of byte ``i // 8``; values are read as their integer bit patterns (``words``,
the tensor viewed as int16 / int32 / int64), so comparisons are exact.
"""

import triton
import triton.language as tl

# Reductions through tl.reduce with combine functions defined here, not tl.min / tl.max /
# tl.sum / tl.zeros: those are themselves @triton.jit functions, made compiled or
# interpreted when triton was imported, so they break the interpreter if triton was
# imported before TRITON_INTERPRET was set (see _kernels.py).


@triton.jit
def _smaller(a, b):
    return tl.minimum(a, b)


@triton.jit
def _larger(a, b):
    return tl.maximum(a, b)


@triton.jit
def _plus(a, b):
    return a + b


@triton.jit
def pack_bits(words_ptr, bits_ptr, lo_ptr, hi_ptr, n, nbytes, BYTES: tl.constexpr,
              TOP: tl.constexpr):  # fmt: skip
    """Each program packs ``8 · BYTES`` elements into ``BYTES`` bytes (bit set where the
    pattern is nonzero) and writes the smallest and largest nonzero pattern it saw
    (``TOP`` / ``-TOP`` where it saw none): the host then knows in one look whether all
    nonzero elements of the tensor share one value."""
    pid = tl.program_id(0)
    offs = pid * (BYTES * 8) + tl.arange(0, BYTES * 8)
    w = tl.load(words_ptr + offs, mask=offs < n, other=0)
    nonzero = w != 0
    lo = tl.reduce(tl.where(nonzero, w, TOP), 0, _smaller)
    hi = tl.reduce(tl.where(nonzero, w, -TOP), 0, _larger)
    eight = tl.reshape(nonzero.to(tl.int32), (BYTES, 8))
    byte = tl.reduce(eight * (1 << tl.arange(0, 8))[None, :], 1, _plus)
    boffs = pid * BYTES + tl.arange(0, BYTES)
    tl.store(bits_ptr + boffs, byte.to(tl.uint8), mask=boffs < nbytes)
    tl.store(lo_ptr + pid, lo.to(lo_ptr.dtype.element_ty))
    tl.store(hi_ptr + pid, hi.to(hi_ptr.dtype.element_ty))


@triton.jit
def unpack_bits(bits_ptr, out_ptr, pattern, n, BLOCK: tl.constexpr):
    """``out[i] = pattern`` where bit ``i`` is set, else 0 (``out``: the integer view)."""
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    inside = offs < n
    byte = tl.load(bits_ptr + offs // 8, mask=inside, other=0).to(tl.int32)
    bit = (byte >> (offs % 8)) & 1
    zero = tl.full([BLOCK], 0, out_ptr.dtype.element_ty)
    value = tl.where(bit != 0, (zero + pattern).to(out_ptr.dtype.element_ty), zero)
    tl.store(out_ptr + offs, value, mask=inside)
