"""The fused CPU "alif" kernel (adaptive threshold) against the plain-torch reference."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lif_backends import (
    CHARGES,
    RESETS,
    SURROGATES,
    alif_case,
    assert_alif_matches_reference,
)
from spikeforge.functional.alif import ALIFParameters, alif_sequence
from spikeforge.functional.lif import LIFParameters
from spikeforge.functional.state import ALIFState
from spikeforge.kernels import dispatch
from spikeforge.kernels._fused_common import AlifConfig, kernel_config
from spikeforge.kernels.cpu import _build
from spikeforge.kernels.cpu import alif as ca
from spikeforge.kernels.cpu.lif import cfg_args
from spikeforge.neurons import ALIF


@pytest.fixture(scope="module", autouse=True)
def _needs_kernel() -> None:
    reason = _build.unavailable_reason()
    if reason is not None:
        pytest.skip(f"fused CPU kernel unavailable: {reason}")


def _compare(x, v0, a0, make_p, dtype, seed=5):
    assert_alif_matches_reference("cpu", ca.CALLS, x, v0, a0, make_p, dtype, seed)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize(
    ("charge", "reset", "detach"),
    list(itertools.product(CHARGES, RESETS, [False, True])),
    ids=lambda v: str(v),
)
def test_matches_reference_with_learnable_parameters(charge, reset, detach, surrogate, dtype):
    """PLIF inv_tau = sigmoid(w), per-neuron learnable V_th and adaptation strength b."""
    _compare(*alif_case(charge, reset, detach, surrogate, dtype, steps=9), dtype)


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


# --- the custom ops: spikeforge::alif_forward / alif_backward ------------------------------
def _op_args(dtype):
    """``(x, v0, a0, k, th, b, cfg args...)``: a learnable ``1/τ``, ``V_th`` and ``b``."""
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(6, 2, 4, generator=gen, dtype=dtype) + 0.6
    v0, a0 = (torch.rand(2, 4, generator=gen, dtype=dtype) * 0.3 for _ in range(2))
    k = torch.tensor(0.4, dtype=dtype, requires_grad=True)
    th, b = ((torch.rand(4, generator=gen, dtype=dtype) + 0.5).requires_grad_() for _ in "tb")
    p = ALIFParameters(LIFParameters(inv_tau=k, v_th=th, reset="subtract"), b=b, rho=0.8)
    cfg, k_t, th_t = kernel_config(p.lif)
    return x, v0, a0, k_t, th_t, b, (*cfg_args(cfg), 0.0, 0.8)


def test_ops_pass_torch_library_opcheck():
    """Schema, fake implementation vs real, autograd registration, AOT dispatch (float32;
    the float64 results are checked bit for bit below)."""
    x, v0, a0, k, th, b, cfg = _op_args(torch.float32)
    torch.library.opcheck(ca.alif_forward_op, (x.requires_grad_(True), v0, a0, k, th, b, *cfg))
    grads = (torch.randn_like(x), torch.randn_like(v0), torch.randn_like(a0))
    params = tuple(t.detach() for t in (k, th, b))  # the backward op is not differentiable
    for wants in ((True, True, True), (False, False, False)):
        args = (x.detach(), v0, a0, *grads, *params, *cfg, *wants)
        torch.library.opcheck(ca.alif_backward_op, args)


def test_default_path_runs_the_op_and_equals_the_c_calls_bit_for_bit():
    """``alif_sequence`` goes through ``torch.ops.spikeforge.alif_forward``; spikes, state
    and gradients are exactly the direct C calls'."""
    x, v0, a0, k, th, b, _ = _op_args(torch.float64)
    p = ALIFParameters(LIFParameters(inv_tau=k, v_th=th, reset="subtract"), b=b, rho=0.8)
    xg = x.clone().requires_grad_(True)
    spikes, state = alif_sequence(xg, ALIFState(v0, a0), p)
    assert "spikeforge_alif_forward" in type(spikes.grad_fn).__name__
    gs = torch.randn_like(x)
    got = torch.autograd.grad((spikes * gs).sum() + state.v.sum(), [xg, k, th, b])
    lif_cfg, _, _ = kernel_config(p.lif)
    cfg = AlifConfig(lif_cfg, 0.0, 0.8)
    params = [t.detach() for t in (k, th, b)]
    s_c, v_c, a_c = ca._forward(x, v0, a0, *params, cfg)
    assert torch.equal(spikes, s_c) and torch.equal(state.v, v_c) and torch.equal(state.a, a_c)
    grads = (gs, torch.ones_like(v0), torch.zeros_like(a0))
    direct = ca.run_backward(x, v0, a0, *grads, *params, cfg, (True, True, True))
    assert torch.equal(got[0], direct[0])
    for g, d, t in zip(got[1:], direct[3:], (k, th, b), strict=True):
        assert torch.equal(g, d.sum_to_size(t.shape))
