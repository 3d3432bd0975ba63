"""The Triton "alif" kernel (adaptive threshold) against the plain-torch reference, in
Triton's interpreter and, where torch sees a GPU, compiled (``target``, conftest.py)."""

from __future__ import annotations

import itertools

import pytest
import torch

triton = pytest.importorskip("triton")

from lif_backends import (  # noqa: E402
    CHARGES,
    RESETS,
    SURROGATES,
    alif_case,
    assert_alif_matches_reference,
)
from spikeforge.functional.alif import ALIFParameters, alif_sequence  # noqa: E402
from spikeforge.functional.lif import LIFParameters  # noqa: E402
from spikeforge.functional.state import ALIFState  # noqa: E402
from spikeforge.kernels import dispatch  # noqa: E402
from spikeforge.kernels.triton import alif as talif  # noqa: E402
from spikeforge.neurons import ALIF  # noqa: E402

pytestmark = pytest.mark.usefixtures("interpret")


@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize(
    ("charge", "reset", "detach"),
    list(itertools.product(CHARGES, RESETS, [False, True])),
    ids=lambda v: str(v),
)
def test_matches_reference_with_learnable_parameters(
    charge, reset, detach, surrogate, target, monkeypatch
):
    """float64 everywhere, float32 on half of the grid (alternating); blocks of 16 over 33
    neurons: several programs and a partial one."""
    monkeypatch.setenv("SPIKEFORGE_TRITON_BLOCK", "16")
    dtypes = [torch.float64]
    if (CHARGES.index(charge) + RESETS.index(reset) + detach + SURROGATES.index(surrogate)) % 2:
        dtypes.append(torch.float32)
    for dtype in dtypes:
        case = alif_case(charge, reset, detach, surrogate, dtype, steps=5, device=target)
        assert_alif_matches_reference("triton", talif.CALLS, *case, dtype)


@pytest.mark.parametrize("b_kind", ["float", "scalar"])
def test_float_parameters(b_kind, target):
    x = (torch.randn(6, 2, 5, generator=torch.Generator().manual_seed(3)) + 0.7).to(target)
    zeros = torch.zeros(2, 5, device=target)

    def make_p():
        leaves = []
        b = 0.3
        if b_kind == "scalar":
            b = torch.tensor(0.3, device=target, requires_grad=True)
            leaves.append(b)
        lif = LIFParameters(inv_tau=0.4, reset="subtract")
        return ALIFParameters(lif=lif, b=b, rho=0.9), leaves

    assert_alif_matches_reference("triton", talif.CALLS, x, zeros, zeros, make_p, torch.float32)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_half_precision_spikes_equal_the_float32_reference(dtype, target):
    gen = torch.Generator().manual_seed(4)
    x = (torch.randn(6, 3, 17, generator=gen) + 0.6).to(dtype).to(target)
    state = ALIFState(torch.zeros(3, 17, dtype=dtype, device=target), torch.zeros_like(x[0]))
    p = ALIFParameters(lif=LIFParameters(reset="subtract"), b=0.2, rho=0.9)
    s, st = alif_sequence(x, state, p, "triton")
    ref = ALIFState(*(t.float() for t in state))
    s32, st32 = alif_sequence(x.float(), ref, p, "torch")
    assert s.dtype == dtype and torch.equal(s.float(), s32)
    torch.testing.assert_close(st.a, st32.a.to(dtype), rtol=2**-7, atol=1e-3)


def test_auto_takes_it_under_the_interpreter_and_the_neuron_reaches_it(target):
    x = (torch.randn(8, 2, 4, generator=torch.Generator().manual_seed(0)) + 0.8).to(target)
    assert dispatch("alif", "auto", x, ALIFParameters()) is talif.alif_sequence_triton
    assert "broadcast" in talif.supports(x, ALIFParameters(b=torch.ones(5, device=target)))
    ref, fused = ALIF(backend="torch").to(target), ALIF(backend="triton").to(target)
    calls = talif.CALLS["forward"]
    assert torch.equal(ref(x), fused(x))
    assert talif.CALLS["forward"] == calls + 1
