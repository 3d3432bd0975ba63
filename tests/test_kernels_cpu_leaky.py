"""The fused CPU "leaky" kernel against the plain-torch reference, and the neurons on it
(CuBa's synaptic current, the LI readout)."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lif_backends import COEFS, SEEDS, TOL, leaky_coef, run_leaky, saved_storages
from spikeforge.functional.leaky import LEAKY_FORMS, LeakyParameters, leaky_scan
from spikeforge.kernels import dispatch
from spikeforge.kernels.cpu import _build
from spikeforge.kernels.cpu import leaky as cl
from spikeforge.neurons import LI, CuBa


@pytest.fixture(scope="module", autouse=True)
def _needs_kernel() -> None:
    reason = _build.unavailable_reason()
    if reason is not None:
        pytest.skip(f"fused CPU kernel unavailable: {reason}")


@pytest.mark.parametrize("seed_kind", SEEDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize(("form", "coef_kind"), list(itertools.product(LEAKY_FORMS, COEFS)))
def test_matches_reference(form, coef_kind, dtype, seed_kind):
    """Trajectory and final state bit-identical; every gradient within tolerance."""
    gen = torch.Generator().manual_seed(LEAKY_FORMS.index(form) * 7 + COEFS.index(coef_kind))
    shape = (9, 3, 2, 11)
    x = torch.randn(shape, generator=gen, dtype=dtype)
    y0 = torch.randn(shape[1:], generator=gen, dtype=dtype) * 0.5
    p = LeakyParameters(form, leaky_coef(coef_kind, shape, dtype, gen), rest=-0.15)
    gy = torch.randn(shape, generator=gen, dtype=dtype) if seed_kind != "final" else None
    gl = torch.randn(shape[1:], generator=gen, dtype=dtype) if seed_kind != "trajectory" else None
    calls = dict(cl.CALLS)
    ref = run_leaky("torch", x, y0, p, (gy, gl))
    new = run_leaky("cpu", x, y0, p, (gy, gl))
    assert {"forward": calls["forward"] + 1, "backward": calls["backward"] + 1} == cl.CALLS
    assert torch.equal(ref[0], new[0]) and torch.equal(ref[1], new[1])
    for a, b in zip(new[2], ref[2], strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, **TOL[dtype])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.lists(st.integers(1, 9), min_size=2, max_size=4),
    form=st.sampled_from(LEAKY_FORMS),
    coef_kind=st.sampled_from(COEFS),
    seed=st.integers(0, 2**16),
)
def test_random_shapes(shape, form, coef_kind, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    y0 = torch.randn(shape[1:], generator=gen, dtype=torch.float64)
    p = LeakyParameters(form, leaky_coef(coef_kind, shape, torch.float64, gen))
    gy = torch.randn(shape, generator=gen, dtype=torch.float64)
    ref, new = (run_leaky(b, x, y0, p, (gy, None)) for b in ("torch", "cpu"))
    assert torch.equal(ref[0], new[0])
    for a, b in zip(new[2], ref[2], strict=True):
        if a is not None:
            torch.testing.assert_close(a, b, **TOL[torch.float64])


def test_float64_gradcheck_with_a_learnable_coefficient():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(5, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    y0 = torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    c = (torch.rand(3, generator=gen, dtype=torch.float64) * 0.5 + 0.2).requires_grad_()
    for form in LEAKY_FORMS:

        def f(x, y0, c, form=form):
            return leaky_scan(x, y0, LeakyParameters(form, c, 0.1), "cpu")

        assert torch.autograd.gradcheck(f, (x, y0, c))


def test_saves_nothing_for_a_float_coefficient_and_the_trajectory_for_a_learnable_one():
    x = torch.randn(6, 4, 10, requires_grad=True)
    y0 = torch.zeros(4, 10)

    assert saved_storages(lambda: leaky_scan(x, y0, LeakyParameters("decay", 0.5), "cpu")) == set()
    c = torch.full((10,), 0.5, requires_grad=True)
    out = []
    pointers = saved_storages(
        lambda: out.append(leaky_scan(x, y0, LeakyParameters("lif", c), "cpu"))
    )
    y = out[0][0]
    assert y.untyped_storage().data_ptr() in pointers and x.untyped_storage().data_ptr() in pointers


def test_auto_picks_the_fused_kernel_and_falls_back_for_mixed_dtypes():
    x = torch.randn(4, 2, 3)
    assert dispatch("leaky", "auto", x, LeakyParameters()) is cl.leaky_scan_cpu
    assert "float16" in cl.supports(x.half(), LeakyParameters())
    assert "broadcast" in cl.supports(x, LeakyParameters(coef=torch.ones(5)))
    y, _ = leaky_scan(x, torch.zeros(2, 3, dtype=torch.float64), LeakyParameters(), "cpu")
    assert y.dtype == torch.float64  # type promotion: the reference ran


@pytest.mark.parametrize(
    "make",
    [
        lambda b: CuBa(alpha=0.7, learn_threshold=True, backend=b),
        lambda b: CuBa(
            alpha=0.4, learn_decay=True, reset="subtract", param_shape=(3, 1, 1), backend=b
        ),
        lambda b: LI(tau=3.0, backend=b),
        lambda b: LI(tau=None, backend=b),
    ],
    ids=["cuba", "cuba-plif-subtract", "li", "integrator"],
)
def test_neurons_on_the_fused_kernels_match_the_reference(make):
    torch.manual_seed(0)
    ref, fused = make("torch"), make("cpu")
    fused.load_state_dict(ref.state_dict())
    x = torch.randn(7, 2, 3, 4, 4) + 0.4
    outs = []
    for module in (ref, fused):
        x_ = x.clone().requires_grad_(True)
        calls = cl.CALLS["forward"]
        y = module(x_)
        assert cl.CALLS["forward"] == calls + (module is fused)
        weights = torch.linspace(-1, 1, y.numel()).view_as(y)
        grads = torch.autograd.grad((y * weights).sum(), [x_, *module.parameters()])
        outs.append((y.detach(), grads))
    assert torch.equal(outs[0][0], outs[1][0])
    for a, b in zip(outs[0][1], outs[1][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


# --- the custom ops: spikeforge::leaky_forward / leaky_backward ----------------------------
# no coefficient; the input saved for the coefficient's gradient; only the trajectory saved
@pytest.mark.parametrize(
    ("form", "dtype"),
    [("integrate", torch.float32), ("lif", torch.float64), ("decay", torch.float32)],
    ids=str,
)
def test_ops_pass_torch_library_opcheck(form, dtype):
    """Schema, fake implementation vs real, autograd registration, AOT dispatch; the
    backward op with and without the coefficient's gradient (``x`` is passed only then)."""
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(5, 2, 3, generator=gen, dtype=dtype, requires_grad=True)
    y0 = torch.randn(2, 3, generator=gen, dtype=dtype)
    coef = (torch.rand(3, generator=gen, dtype=dtype) * 0.5 + 0.2).requires_grad_(True)
    code = LEAKY_FORMS.index(form)
    coef_t = coef if code != 0 else None
    torch.library.opcheck(cl.leaky_forward_op, (x, y0, coef_t, 0.0, code, 0.1))
    torch.library.opcheck(cl.leaky_forward_op, (x, y0, None, 0.4, code, 0.1))
    y, _ = cl._run_forward(x, y0, None if coef_t is None else coef_t.detach(), 0.0, code, 0.1)
    gy, gl = torch.randn_like(x), torch.randn_like(y0)
    shapes = (list(x.shape), list(y0.shape))
    plain = (None, None, None, gy, gl, None, 0.4, code, 0.1, False, *shapes)
    torch.library.opcheck(cl.leaky_backward_op, plain)
    if coef_t is not None:
        saved_x = x.detach() if code == 1 else None
        c = coef_t.detach()
        args = (saved_x, y0, y, gy, None, c, 0.0, code, 0.1, True, *shapes)
        torch.library.opcheck(cl.leaky_backward_op, args)


def test_default_path_runs_the_op_and_equals_the_c_calls_bit_for_bit():
    """``leaky_scan`` goes through ``torch.ops.spikeforge.leaky_forward``; trajectory and
    gradients are exactly the direct C calls' (what the autograd Function returned)."""
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(6, 2, 4, generator=gen, dtype=torch.float64)
    y0 = torch.randn(2, 4, generator=gen, dtype=torch.float64)
    c = (torch.rand(4, generator=gen, dtype=torch.float64) * 0.5 + 0.2).requires_grad_(True)
    xg = x.clone().requires_grad_(True)
    y, last = leaky_scan(xg, y0, LeakyParameters("lif", c, 0.1))
    assert "spikeforge_leaky_forward" in type(y.grad_fn).__name__
    gy = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    gx, gc = torch.autograd.grad((y * gy).sum() + last.sum(), [xg, c])
    y_c, last_c = cl._run_forward(x, y0, c.detach(), 0.0, 1, 0.1)
    assert torch.equal(y, y_c) and torch.equal(last, last_c)
    direct = cl.run_backward(
        x, y0, y_c, gy, torch.ones_like(y0), c.detach(), 0.0, 1, 0.1, True, x.shape, y0.shape
    )
    assert torch.equal(gx, direct[0]) and torch.equal(gc, direct[2].sum_to_size(c.shape))
