"""What every fused kernel family (``"lif"``, ``"alif"``, ``"leaky"``) shares across its
backends (``cpu/``, ``triton/``): the encoding of the dynamics as kernel codes, the
capability checks, and the entry points that pick autograd or a plain forward.

A backend supplies its own ``forward(x, v0, k_t, th_t, cfg)`` and an autograd Function
with the same arguments; :func:`fused_lif` does the rest the same way for all of them
(:func:`fused_alif` and :func:`fused_leaky` likewise for the other two families).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.autograd.function import once_differentiable

from ..functional.alif import alif_sequence_reference
from ..functional.leaky import LEAKY_FORMS, leaky_scan_reference
from ..functional.lif import LIFParameters, lif_sequence_reference
from ..surrogates import (
    ATan,
    FastSigmoid,
    PiecewiseLinear,
    Rectangle,
    Sigmoid,
    Surrogate,
    Triangle,
)

# (charge, decay_input) -> kernel code: IF ignores decay_input.
CHARGE_CODES = {("if", True): 0, ("if", False): 0, ("lif", True): 1, ("lif", False): 2}
RESET_CODES = {"zero": 0, "subtract": 1, "none": 2}


def surrogate_code(s: Surrogate) -> tuple[int, float, float] | None:
    """``(id, a, b)`` for the kernels' surrogate switch; ``None`` for one they lack."""
    kind = type(s)
    if kind is ATan:
        return 0, s.alpha, 0.0
    if kind is Sigmoid:
        return 1, s.alpha, 0.0
    if kind is FastSigmoid:
        return 2, s.alpha, 0.0
    if kind is Triangle:
        return 3, s.alpha, s.gamma
    if kind is Rectangle:
        return 4, s.alpha, 0.0
    if kind is PiecewiseLinear:
        return 5, s.alpha, s.leak
    return None


def param_reason(name: str, value: Any, x: torch.Tensor) -> str | None:
    if not isinstance(value, torch.Tensor):
        return None
    if value.device != x.device:
        return f"{name} is on {value.device}, the input on {x.device}"
    if value.dtype != x.dtype:
        return f"{name} has dtype {value.dtype}, the input {x.dtype} (the kernel needs one dtype)"
    step = x.shape[1:]
    try:
        shape = torch.broadcast_shapes(value.shape, step)
    except RuntimeError:
        return f"{name} of shape {tuple(value.shape)} does not broadcast to {tuple(step)}"
    if shape != step:
        return f"{name} of shape {tuple(value.shape)} would enlarge the step shape {tuple(step)}"
    return None


def dynamics_reason(x: torch.Tensor, p: LIFParameters) -> str | None:
    """Reason a fused kernel cannot run ``p`` on ``x`` (device and dtype aside), or None."""
    if x.dim() < 2:
        return "input must be [T, B, ...]"
    if surrogate_code(p.surrogate) is None:
        return f"surrogate {type(p.surrogate).__name__} has no fused derivative"
    if isinstance(p.v_reset, torch.Tensor):
        return "a tensor v_reset is not supported"
    for name in ("inv_tau", "v_th"):
        reason = param_reason(name, getattr(p, name), x)
        if reason is not None:
            return reason
    return None


@dataclass(frozen=True)
class KernelConfig:
    """The dynamics as kernel arguments (codes and floats; tensors travel separately)."""

    charge: int
    reset: int
    detach: bool
    sid: int
    a: float
    b: float
    v_reset: float
    k: float  # used when inv_tau is a float
    th: float  # used when v_th is a float


@dataclass(frozen=True)
class AlifConfig:
    """The ``"alif"`` kernels' dynamics: the LIF part's codes and floats, plus the
    adaptation strength ``b`` (when a float) and decay ``rho``."""

    lif: KernelConfig
    b: float
    rho: float


Forward = Callable[..., tuple[torch.Tensor, torch.Tensor]]
Backward = Callable[[Any, "torch.Tensor | None", "torch.Tensor | None"], tuple[Any, ...]]


def lif_autograd(forward: Forward, backward: Backward) -> type[torch.autograd.Function]:
    """The autograd Function of a backend: ``forward(x, v0, k_t, th_t, cfg)`` gives
    ``(spikes, v_final)``; ``backward(ctx, dL/dspikes | None, dL/dv_final | None)`` gives
    the gradients of ``(x, v0, k_t, th_t, cfg)`` from ``ctx.saved_tensors = (x, v0, k_t,
    th_t)`` and ``ctx.cfg``. Only references to the inputs are saved: the kernels'
    backward passes recompute the membrane from them."""

    class FusedLIF(torch.autograd.Function):
        @staticmethod
        def forward(
            x: torch.Tensor,
            v0: torch.Tensor,
            k_t: torch.Tensor | None,
            th_t: torch.Tensor | None,
            cfg: KernelConfig,
        ) -> tuple[torch.Tensor, torch.Tensor]:
            return forward(x, v0, k_t, th_t, cfg)

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
            x, v0, k_t, th_t, cfg = inputs
            ctx.set_materialize_grads(False)  # an unused output's gradient stays None
            ctx.save_for_backward(x, v0, k_t, th_t)
            ctx.cfg = cfg

        @staticmethod
        @once_differentiable
        def backward(
            ctx: Any, g_spikes: torch.Tensor | None, g_v: torch.Tensor | None
        ) -> tuple[Any, ...]:
            return backward(ctx, g_spikes, g_v)

    return FusedLIF


def kernel_config(
    p: LIFParameters,
) -> tuple[KernelConfig, torch.Tensor | None, torch.Tensor | None]:
    """``(cfg, inv_tau tensor | None, v_th tensor | None)`` of dynamics a fused kernel
    supports (:func:`dynamics_reason` is ``None``); IF ignores ``inv_tau``."""
    code = surrogate_code(p.surrogate)
    assert code is not None  # supports() checked
    charge = CHARGE_CODES[(p.charge, bool(p.decay_input))]
    k_t = p.inv_tau if isinstance(p.inv_tau, torch.Tensor) and charge != 0 else None
    th_t = p.v_th if isinstance(p.v_th, torch.Tensor) else None
    cfg = KernelConfig(
        charge=charge,
        reset=RESET_CODES[p.reset],
        detach=bool(p.detach_reset),
        sid=code[0],
        a=float(code[1]),
        b=float(code[2]),
        v_reset=float(p.v_reset),
        k=1.0 if k_t is not None or charge == 0 else float(p.inv_tau),
        th=1.0 if th_t is not None else float(p.v_th),
    )
    return cfg, k_t, th_t


def fused_lif(
    x: torch.Tensor, v0: torch.Tensor, p: LIFParameters, function: Any, forward: Forward
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a backend: ``function.apply`` (autograd) when a gradient is wanted, else
    ``forward``; both take ``(x, v0, k_t, th_t, cfg)``. Returns unscaled spikes
    ``[T, B, ...]`` and the final membrane ``[B, ...]``."""
    if v0.dtype != x.dtype or v0.device != x.device or v0.shape != x.shape[1:]:
        return lif_sequence_reference(x, v0, p)  # type promotion / broadcasting: reference
    cfg, k_t, th_t = kernel_config(p)
    tensors = [t for t in (x, v0, k_t, th_t) if t is not None]
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return function.apply(x, v0, k_t, th_t, cfg)
    return forward(x, v0, k_t, th_t, cfg)


# --- the "alif" and "leaky" families: the same entry and autograd plumbing per backend ---
def fused_alif(
    x: torch.Tensor, v0: torch.Tensor, a0: torch.Tensor, p: Any, function: Any, forward: Forward
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run an ``"alif"`` backend: ``function.apply`` (autograd) when a gradient is wanted,
    else ``forward``; both take ``(x, v0, a0, k_t, th_t, b_t, cfg)`` and give the unscaled
    spikes and the final ``V`` and ``a``. Mixed dtypes or shapes run the reference."""
    same = all(
        t.dtype == x.dtype and t.device == x.device and t.shape == x.shape[1:] for t in (v0, a0)
    )
    if not same:
        return alif_sequence_reference(x, v0, a0, p)  # type promotion / broadcasting
    lif_cfg, k_t, th_t = kernel_config(p.lif)
    b_t = p.b if isinstance(p.b, torch.Tensor) else None
    cfg = AlifConfig(lif_cfg, 0.0 if b_t is not None else float(p.b), float(p.rho))
    tensors = [t for t in (x, v0, a0, k_t, th_t, b_t) if t is not None]
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return function.apply(x, v0, a0, k_t, th_t, b_t, cfg)
    return forward(x, v0, a0, k_t, th_t, b_t, cfg)


def alif_setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    """``setup_context`` of an ``"alif"`` autograd Function: only references to the inputs
    are saved (backward recomputes ``H`` and ``a``)."""
    x, v0, a0, k_t, th_t, b_t, cfg = inputs
    ctx.save_for_backward(x, v0, a0, k_t, th_t, b_t)
    ctx.cfg = cfg


def alif_wanted(ctx: Any, k_t: Any, th_t: Any, b_t: Any, charge: int) -> list[bool]:
    """Which of ``(inv_tau, v_th, b)`` need a gradient (IF has no ``inv_tau``)."""
    return [
        t is not None and ctx.needs_input_grad[i] and (i != 3 or charge != 0)
        for i, t in ((3, k_t), (4, th_t), (5, b_t))
    ]


def fused_leaky(
    x: torch.Tensor, y0: torch.Tensor, p: Any, function: Any, forward: Forward
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a ``"leaky"`` backend: ``function.apply`` or ``forward``, both taking
    ``(x, y0, coef tensor | None, coef float, form code, rest)``; mixed dtypes or shapes
    run the reference."""
    if y0.dtype != x.dtype or y0.device != x.device or y0.shape != x.shape[1:]:
        return leaky_scan_reference(x, y0, p)  # type promotion / broadcasting: reference
    form = LEAKY_FORMS.index(p.form)
    coef_t = p.coef if isinstance(p.coef, torch.Tensor) and form != 0 else None
    coef = 0.0 if coef_t is not None or form == 0 else float(p.coef)
    tensors = [t for t in (x, y0, coef_t) if t is not None]
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return function.apply(x, y0, coef_t, coef, form, float(p.rest))
    return forward(x, y0, coef_t, coef, form, float(p.rest))


def leaky_setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    """``setup_context`` of a ``"leaky"`` autograd Function: saves ``y[t-1]`` (the output
    trajectory and ``y0``) and, for the ``"lif"`` form, ``x`` — only when the coefficient
    is a tensor that needs its gradient; nothing otherwise."""
    x, y0, coef_t, coef, form, rest = inputs
    ctx.set_materialize_grads(False)
    want_c = coef_t is not None and coef_t.requires_grad and form != 0
    saved_x = x if want_c and form == 1 else None
    ctx.save_for_backward(saved_x, y0 if want_c else None, output[0] if want_c else None, coef_t)
    ctx.want_c, ctx.coef, ctx.form, ctx.rest = want_c, coef, form, rest
    ctx.shapes, ctx.dtype, ctx.device = (x.shape, y0.shape), x.dtype, x.device
