"""What every fused kernel family shares (``kernels/_fused_common.py``): the dynamics as
kernel codes, the capability checks, and the entry points that pick autograd, a plain
forward, or the reference for inputs a kernel does not take."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import torch

from spikeforge.functional.alif import ALIFParameters
from spikeforge.functional.leaky import LeakyParameters, leaky_scan_reference
from spikeforge.functional.lif import LIFParameters, lif_sequence_reference
from spikeforge.kernels import _fused_common as fc
from spikeforge.surrogates import (
    ATan,
    FastSigmoid,
    PiecewiseLinear,
    Rectangle,
    Sigmoid,
    Surrogate,
    Triangle,
)


@dataclass(frozen=True)
class _Custom(Surrogate):
    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(x)


@dataclass(frozen=True)
class _SubATan(ATan):
    """Same name of derivative, other behaviour possible: not ATan's code."""


def test_surrogate_codes_by_hand():
    assert fc.surrogate_code(ATan(alpha=3.0)) == (0, 3.0, 0.0)
    assert fc.surrogate_code(Sigmoid(alpha=5.0)) == (1, 5.0, 0.0)
    assert fc.surrogate_code(FastSigmoid(alpha=7.0)) == (2, 7.0, 0.0)
    assert fc.surrogate_code(Triangle(alpha=0.8, gamma=0.3)) == (3, 0.8, 0.3)
    assert fc.surrogate_code(Rectangle(alpha=0.7)) == (4, 0.7, 0.0)
    assert fc.surrogate_code(PiecewiseLinear(alpha=1.5, leak=0.05)) == (5, 1.5, 0.05)
    assert fc.surrogate_code(_Custom()) is None
    assert fc.surrogate_code(_SubATan()) is None  # exact types only


def test_parameter_checks_name_what_the_kernel_cannot_take():
    x = torch.zeros(3, 2, 4)
    assert fc.param_reason("v_th", 1.0, x) is None
    assert fc.param_reason("v_th", torch.ones(4), x) is None  # broadcasts to [2, 4]
    assert fc.param_reason("v_th", torch.ones(2, 4), x) is None
    assert "has dtype torch.float64, the input torch.float32" in fc.param_reason(
        "v_th", torch.ones(4, dtype=torch.float64), x
    )
    assert fc.param_reason("v_th", torch.ones(3), x) == (
        "v_th of shape (3,) does not broadcast to (2, 4)"
    )
    assert fc.param_reason("inv_tau", torch.ones(5, 2, 4), x) == (
        "inv_tau of shape (5, 2, 4) would enlarge the step shape (2, 4)"
    )
    assert "is on meta, the input on cpu" in fc.param_reason(
        "v_th", torch.ones(4, device="meta"), x
    )


def test_dynamics_checks():
    x = torch.zeros(3, 2)
    assert fc.dynamics_reason(x, LIFParameters()) is None
    assert fc.dynamics_reason(torch.zeros(3), LIFParameters()) == "input must be [T, B, ...]"
    assert fc.dynamics_reason(x, LIFParameters(surrogate=_Custom())) == (
        "surrogate _Custom has no fused derivative"
    )
    tensor_reset = LIFParameters(v_reset=torch.tensor(0.0))  # type: ignore[arg-type]
    assert fc.dynamics_reason(x, tensor_reset) == "a tensor v_reset is not supported"
    assert "inv_tau of shape (3,)" in fc.dynamics_reason(x, LIFParameters(inv_tau=torch.ones(3)))


@pytest.mark.parametrize(
    ("charge", "decay_input", "code"),
    [("if", True, 0), ("if", False, 0), ("lif", True, 1), ("lif", False, 2)],
)
def test_kernel_config_codes_by_hand(charge, decay_input, code):
    p = LIFParameters(charge=charge, decay_input=decay_input, inv_tau=0.25, v_th=0.75,
                      v_reset=-0.5, reset="subtract", detach_reset=True,
                      surrogate=Triangle(alpha=0.8, gamma=0.3))  # fmt: skip
    cfg, k_t, th_t = fc.kernel_config(p)
    assert (k_t, th_t) == (None, None)
    assert cfg == fc.KernelConfig(
        charge=code, reset=1, detach=True, sid=3, a=0.8, b=0.3, v_reset=-0.5,
        k=1.0 if charge == "if" else 0.25, th=0.75,
    )  # fmt: skip


def test_kernel_config_hands_tensor_parameters_over_separately():
    inv_tau, v_th = torch.full((4,), 0.5), torch.ones(4)
    cfg, k_t, th_t = fc.kernel_config(LIFParameters(inv_tau=inv_tau, v_th=v_th, reset="none"))
    assert k_t is inv_tau and th_t is v_th
    assert (cfg.reset, cfg.k, cfg.th) == (2, 1.0, 1.0)
    cfg, k_t, _ = fc.kernel_config(LIFParameters(charge="if", inv_tau=inv_tau))
    assert k_t is None and cfg.k == 1.0  # IF has no decay


class _Backend:
    """A fake backend recording which entry ran; computes the reference either way."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        backend = self

        class Function:
            @staticmethod
            def apply(*args):
                backend.ran.append("autograd")
                return backend.args_result(args)

        self.function = Function

    def args_result(self, args):
        self.args = args
        return "result"

    def forward(self, *args):
        self.ran.append("forward")
        return self.args_result(args)


def test_fused_lif_picks_autograd_only_when_a_gradient_is_wanted():
    backend = _Backend()
    x, v0 = torch.rand(3, 2), torch.zeros(2)
    p = LIFParameters(v_th=torch.ones(2))
    assert fc.fused_lif(x, v0, p, backend.function, backend.forward) == "result"
    assert backend.ran == ["forward"]
    assert backend.args[0] is x and backend.args[1] is v0 and backend.args[2] is None
    assert backend.args[3] is p.v_th and isinstance(backend.args[4], fc.KernelConfig)
    fc.fused_lif(x.requires_grad_(True), v0, p, backend.function, backend.forward)
    with torch.no_grad():
        fc.fused_lif(x, v0, p, backend.function, backend.forward)
    assert backend.ran == ["forward", "autograd", "forward"]


def test_fused_lif_leaves_mixed_dtypes_and_broadcast_states_to_the_reference():
    backend = _Backend()
    x = torch.rand(3, 2)
    p = LIFParameters()
    for v0 in (torch.zeros(2, dtype=torch.float64), torch.zeros(1)):
        spikes, v = fc.fused_lif(x, v0, p, backend.function, backend.forward)
        ref_spikes, ref_v = lif_sequence_reference(x, v0, p)
        assert torch.equal(spikes, ref_spikes) and torch.equal(v, ref_v)
    assert backend.ran == []


def test_fused_alif_config_and_entry():
    backend = _Backend()
    x, v0, a0 = torch.rand(3, 2), torch.zeros(2), torch.zeros(2)
    p = ALIFParameters(lif=LIFParameters(inv_tau=0.25), b=0.3, rho=0.8)
    fc.fused_alif(x, v0, a0, p, backend.function, backend.forward)
    *tensors, cfg = backend.args
    assert tensors[3:] == [None, None, None]  # k_t, th_t, b_t: all floats
    assert cfg == fc.AlifConfig(fc.kernel_config(p.lif)[0], 0.3, 0.8)
    b = torch.full((2,), 0.3, requires_grad=True)
    fc.fused_alif(x, v0, a0, ALIFParameters(b=b), backend.function, backend.forward)
    assert backend.ran == ["forward", "autograd"]
    assert backend.args[5] is b and backend.args[6].b == 0.0
    out = fc.fused_alif(x, v0, a0.double(), p, backend.function, backend.forward)
    assert len(out) == 3 and backend.ran == ["forward", "autograd"]  # the reference ran


def test_fused_leaky_codes_and_reference_fallback():
    backend = _Backend()
    x, y0 = torch.rand(3, 2), torch.zeros(2)
    fc.fused_leaky(x, y0, LeakyParameters("decay", 0.25, 0.0), backend.function, backend.forward)
    assert backend.args[2:] == (None, 0.25, 3, 0.0)  # coef tensor, coef, form code, rest
    coef = torch.full((2,), 0.5)
    fc.fused_leaky(
        x, y0, LeakyParameters("integrate", coef, 0.0), backend.function, backend.forward
    )
    assert backend.args[2:] == (None, 0.0, 0, 0.0)  # "integrate" has no coefficient
    fc.fused_leaky(x, y0, LeakyParameters("lif", coef, 1.5), backend.function, backend.forward)
    assert backend.args[2] is coef and backend.args[3:] == (0.0, 1, 1.5)
    p = LeakyParameters("lif", 0.5)
    y, last = fc.fused_leaky(x, torch.zeros(1), p, backend.function, backend.forward)
    ref_y, ref_last = leaky_scan_reference(x, torch.zeros(1), p)
    assert torch.equal(y, ref_y) and torch.equal(last, ref_last)
    assert backend.ran == ["forward"] * 3


def test_alif_wanted_skips_the_decay_of_if_and_absent_tensors():
    ctx = SimpleNamespace(needs_input_grad=(True,) * 7)
    t = torch.ones(1)
    assert fc.alif_wanted(ctx, t, t, t, charge=1) == [True, True, True]
    assert fc.alif_wanted(ctx, t, t, t, charge=0) == [False, True, True]
    assert fc.alif_wanted(ctx, None, t, None, charge=1) == [False, True, False]
    ctx = SimpleNamespace(needs_input_grad=(True, True, True, True, False, True, False))
    assert fc.alif_wanted(ctx, t, t, t, charge=1) == [True, False, True]


def test_lif_autograd_saves_references_to_the_inputs_only():
    seen = {}

    def forward(x, v0, k_t, th_t, cfg):
        return (x >= cfg.th).to(x.dtype), v0 + x.sum(0)

    def backward(ctx, g_spikes, g_v):
        seen["saved"] = ctx.saved_tensors
        seen["grads"] = (g_spikes, g_v)
        return torch.full_like(ctx.saved_tensors[0], 2.0), None, None, None, None

    function = fc.lif_autograd(forward, backward)
    x = torch.rand(3, 2, requires_grad=True)
    v0 = torch.zeros(2)
    cfg = fc.kernel_config(LIFParameters(v_th=0.5))[0]
    spikes, _ = function.apply(x, v0, None, None, cfg)
    (grad,) = torch.autograd.grad(spikes.sum(), x)
    assert torch.equal(grad, torch.full_like(x, 2.0))
    saved_x, saved_v0, k_t, th_t = seen["saved"]
    assert saved_x is x and saved_v0 is v0 and k_t is None and th_t is None
    assert seen["grads"][1] is None  # the unused final membrane's gradient stays None


def test_leaky_setup_context_saves_only_what_the_coefficient_gradient_needs():
    x, y0 = torch.rand(3, 2), torch.rand(2)
    y = torch.rand(3, 2)
    coef = torch.full((2,), 0.5, requires_grad=True)
    for form, coef_t, saved in (
        (1, coef, ("x", "y0", "y", "coef")),  # "lif": dL/dc needs x too
        (3, coef, (None, "y0", "y", "coef")),
        (1, coef.detach(), (None, None, None, "coef")),  # no gradient wanted: nothing
        (0, None, (None, None, None, None)),
    ):
        ctx = SimpleNamespace(set_materialize_grads=lambda value: None)
        ctx.save_for_backward = lambda *ts, ctx=ctx: setattr(ctx, "saved", ts)
        fc.leaky_setup_context(ctx, (x, y0, coef_t, 0.5, form, 0.0), (y, y[-1]))
        names = {id(x): "x", id(y0): "y0", id(y): "y", id(coef): "coef"}
        if coef_t is not None:
            names[id(coef_t)] = "coef"
        assert tuple(None if t is None else names[id(t)] for t in ctx.saved) == saved, form
        assert ctx.want_c == (saved[1] is not None)
