"""What every fused ``"lif"`` kernel shares: the encoding of the dynamics for a kernel,
the capability checks, and the entry point that picks autograd or a plain forward.

A backend supplies its own ``forward(x, v0, k_t, th_t, cfg)`` and an autograd Function
with the same arguments; :func:`fused_lif` does the rest the same way for all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.autograd.function import once_differentiable

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
