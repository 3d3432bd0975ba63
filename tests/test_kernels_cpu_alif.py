"""The fused CPU "alif" kernel (adaptive threshold) against the plain-torch reference."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lif_backends import CHARGES, RESETS, SURROGATES, TOL
from spikeforge.functional.alif import ALIFParameters, alif_sequence
from spikeforge.functional.lif import LIFParameters
from spikeforge.functional.state import ALIFState
from spikeforge.kernels import dispatch
from spikeforge.kernels.cpu import _build
from spikeforge.kernels.cpu import alif as ca
from spikeforge.neurons import ALIF


@pytest.fixture(scope="module", autouse=True)
def _needs_kernel() -> None:
    reason = _build.unavailable_reason()
    if reason is not None:
        pytest.skip(f"fused CPU kernel unavailable: {reason}")


def _run(backend, x, v0, a0, make_p, seeds):
    """Spikes, final (v, a) and the gradients w.r.t. x, v0, a0 and every tensor
    parameter, for the loss ``Σ S·gs + Σ v·gv + Σ a·ga``."""
    x, v0, a0 = (t.clone().requires_grad_(True) for t in (x, v0, a0))
    p, leaves = make_p()
    spikes, state = alif_sequence(x, ALIFState(v0, a0), p, backend)
    gs, gv, ga = seeds
    loss = (spikes * gs).sum() + (state.v * gv).sum() + (state.a * ga).sum()
    grads = torch.autograd.grad(loss, [x, v0, a0, *leaves], allow_unused=True)
    return spikes.detach(), state.v.detach(), state.a.detach(), grads


def _compare(x, v0, a0, make_p, dtype, seed=5):
    gen = torch.Generator().manual_seed(seed)
    seeds = [torch.randn(t.shape, generator=gen, dtype=dtype) for t in (x, v0, a0)]
    calls = dict(ca.CALLS)
    ref = _run("torch", x, v0, a0, make_p, seeds)
    new = _run("cpu", x, v0, a0, make_p, seeds)
    assert {"forward": calls["forward"] + 1, "backward": calls["backward"] + 1} == ca.CALLS
    assert torch.equal(ref[0], new[0]), "spikes differ"
    for i, (a, b) in enumerate(zip([*new[1:3], *new[3]], [*ref[1:3], *ref[3]], strict=True)):
        assert (a is None) == (b is None), f"output {i}: presence differs"
        if a is not None:
            torch.testing.assert_close(a, b, **TOL[dtype], msg=lambda m, i=i: f"output {i}: {m}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize(
    ("charge", "reset", "detach"),
    list(itertools.product(CHARGES, RESETS, [False, True])),
    ids=lambda v: str(v),
)
def test_matches_reference_with_learnable_parameters(charge, reset, detach, surrogate, dtype):
    """PLIF inv_tau = sigmoid(w), per-neuron learnable V_th and adaptation strength b."""
    gen = torch.Generator().manual_seed(CHARGES.index(charge) * 9 + RESETS.index(reset))
    T, B, N = 9, 3, 11
    x = torch.randn(T, B, N, generator=gen, dtype=dtype) * 1.2 + 0.5
    v0 = torch.randn(B, N, generator=gen, dtype=dtype) * 0.3
    a0 = torch.rand(B, N, generator=gen, dtype=dtype)
    th = torch.rand(N, generator=gen, dtype=dtype) * 0.5 + 0.7
    b = torch.rand(N, generator=gen, dtype=dtype) * 0.3 + 0.1

    def make_p():
        w_, th_, b_ = (
            t.clone().requires_grad_(True) for t in (torch.tensor(0.3, dtype=dtype), th, b)
        )
        lif = LIFParameters(
            charge=charge[0],
            decay_input=charge[1],
            inv_tau=torch.sigmoid(w_),
            v_th=th_,
            v_reset=-0.1,
            reset=reset,
            detach_reset=detach,
            surrogate=surrogate,
        )
        return ALIFParameters(lif=lif, b=b_, rho=0.8), [w_, th_, b_]

    _compare(x, v0, a0, make_p, dtype)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    charge=st.sampled_from(CHARGES),
    reset=st.sampled_from(RESETS),
    surrogate=st.sampled_from(SURROGATES),
    b_kind=st.sampled_from(["float", "scalar", "per-neuron"]),
    rho=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_random_shapes_and_float_parameters(shape, charge, reset, surrogate, b_kind, rho, seed):
    gen = torch.Generator().manual_seed(seed)
    dtype = torch.float64
    x = torch.randn(shape, generator=gen, dtype=dtype) + 0.6
    v0 = torch.zeros(shape[1:], dtype=dtype)
    a0 = torch.zeros(shape[1:], dtype=dtype)
    b_base = torch.rand(shape[1:], generator=gen, dtype=dtype) * 0.5

    def make_p():
        leaves = []
        b = 0.3
        if b_kind != "float":
            b = (b_base if b_kind == "per-neuron" else torch.tensor(0.3, dtype=dtype)).clone()
            b.requires_grad_(True)
            leaves.append(b)
        lif = LIFParameters(
            charge=charge[0], decay_input=charge[1], inv_tau=0.4, reset=reset, surrogate=surrogate
        )
        return ALIFParameters(lif=lif, b=b, rho=rho), leaves

    _compare(x, v0, a0, make_p, dtype, seed=seed)


def test_auto_picks_the_fused_kernel_and_reports_what_it_cannot_do():
    x = torch.randn(4, 2, 3)
    assert dispatch("alif", "auto", x, ALIFParameters()) is ca.alif_sequence_cpu
    assert "broadcast" in ca.supports(x, ALIFParameters(b=torch.ones(5)))
    assert "float16" in ca.supports(x.half(), ALIFParameters())


@pytest.mark.parametrize(
    "make",
    [
        lambda backend: ALIF(b=0.3, rho=0.9, learn_threshold=True, backend=backend),
        lambda backend: ALIF(reset="zero", learn_decay=True, graded=True, backend=backend),
    ],
    ids=["subtract-learn-threshold", "zero-plif-graded"],
)
def test_the_alif_neuron_on_the_fused_kernel_matches_the_reference(make):
    torch.manual_seed(0)
    ref, fused = make("torch"), make("cpu")
    fused.load_state_dict(ref.state_dict())
    x = torch.randn(12, 2, 5, 4) + 0.8
    outs = []
    for module in (ref, fused):
        x_ = x.clone().requires_grad_(True)
        y = module(x_)
        weights = torch.linspace(-1, 1, y.numel()).view_as(y)
        outs.append(
            (y.detach(), torch.autograd.grad((y * weights).sum(), [x_, *module.parameters()]))
        )
    assert outs[0][0].sum() > 0 and torch.equal(outs[0][0], outs[1][0])
    for a, b in zip(outs[0][1], outs[1][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
