"""The Triton bit-packing source (``kernels/triton/_bits_kernels.py``) launched directly in
Triton's interpreter against hand computations, and compiled for a real GPU (sm_90)
without one."""

from __future__ import annotations

import pytest
import torch

triton = pytest.importorskip("triton")

from spikeforge.kernels.triton import bits as tbits  # noqa: E402

pytestmark = pytest.mark.usefixtures("interpret")  # see conftest.py


@pytest.fixture
def kernels():
    return tbits._build(True)


def test_pack_bits_by_hand(kernels):
    """Ten int32 patterns, two programs of two bytes (16 elements) each: the bytes hold
    bit i of element i in order, and each program reports its smallest and largest
    nonzero pattern (TOP / -TOP where it saw none)."""
    words = torch.tensor([7, 0, 0, 7, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                         dtype=torch.int32)  # fmt: skip
    n, nbytes, top = words.numel(), 3, 100
    packed = torch.full((nbytes,), 255, dtype=torch.uint8)
    lo, hi = torch.zeros(2, dtype=torch.int32), torch.zeros(2, dtype=torch.int32)
    kernels.pack_bits[(2,)](words, packed, lo, hi, n, nbytes, BYTES=2, TOP=top)
    assert packed.tolist() == [0b00001001, 0b00000010, 0]  # elements 0, 3 and 9
    assert lo.tolist() == [7, top] and hi.tolist() == [9, -top]


def test_unpack_bits_by_hand(kernels):
    packed = torch.tensor([0b10000001, 0b00000100], dtype=torch.uint8)
    out = torch.full((11,), -1, dtype=torch.int16)
    kernels.unpack_bits[(3,)](packed, out, -5, 11, BLOCK=4)
    assert out.tolist() == [-5, 0, 0, 0, 0, 0, 0, -5, 0, 0, -5]


@pytest.mark.no_interpreter
def test_kernels_compile_for_a_real_gpu(monkeypatch):
    """The interpreter is lenient; the compiler is not: both kernels for sm_90, every
    integer width the formats use."""
    from triton.backends import backends
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    if "nvidia" not in backends:
        pytest.skip("triton has no nvidia backend here")
    monkeypatch.delenv("TRITON_INTERPRET")
    kernels = tbits._build(False)
    assert type(kernels.pack_bits).__name__ == "JITFunction"
    gpu = GPUTarget("cuda", 90, 32)
    for width in (16, 32, 64):
        word = f"*i{width}"
        pack = {"words_ptr": word, "bits_ptr": "*u8", "lo_ptr": word, "hi_ptr": word,
                "n": "i32", "nbytes": "i32"}  # fmt: skip
        constants = {"BYTES": tbits.PACK_BYTES, "TOP": (1 << (width - 1)) - 1}
        src = ASTSource(kernels.pack_bits, pack, constants)
        assert triton.compile(src, target=gpu, options=tbits.LAUNCH).asm["ptx"]
        unpack = {"bits_ptr": "*u8", "out_ptr": word, "pattern": f"i{max(width, 32)}", "n": "i32"}
        src = ASTSource(kernels.unpack_bits, unpack, {"BLOCK": tbits.UNPACK_BLOCK})
        assert triton.compile(src, target=gpu, options=tbits.LAUNCH).asm["ptx"]
