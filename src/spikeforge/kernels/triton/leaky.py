"""The fused ``"leaky"`` kernel for the ``"triton"`` backend (first-order linear scans: the
LI readout's membrane, CuBa's synaptic current; :mod:`spikeforge.functional.leaky`).

Semantics and memory as the ``"cpu"`` kernel (:mod:`spikeforge.kernels.cpu.leaky`):
forward reads ``x`` and writes the trajectory once; backward is one reverse pass reading
``dL/dy`` and writing ``dL/dx``, plus the saved trajectory (and ``x`` for the ``"lif"``
form) only for the gradient of a tensor coefficient. float16 / bfloat16 are computed in
float32 registers, float64 in float64. Checked once per configuration on each CUDA
device against the reference (:mod:`.check`), like the ``"lif"`` kernel.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import torch
from torch.autograd.function import once_differentiable

from ...functional.leaky import LeakyParameters
from .._fused_common import fused_leaky, leaky_setup_context, param_reason
from .check import register_family, self_check_reason
from .lif import (
    _block,
    _compute_dtype,
    _grid,
    _kernels,
    _launch_options,
    _on,
    _param_array,
    device_reason,
)

CALLS = {"forward": 0, "backward": 0}  # kernel launches, so tests can see this path ran


def supports(x: torch.Tensor, p: LeakyParameters) -> str | None:
    """``None`` if the Triton kernel handles ``x`` with ``p``, else the reason."""
    shape = "input must be [T, B, ...]" if x.dim() < 2 else None
    reason = device_reason(x) or shape or param_reason("coef", p.coef, x)
    if reason is not None:
        return reason
    return self_check_reason(x, p, family="leaky")  # CUDA tensors: first use is checked


@functools.lru_cache(maxsize=64)
def _constants(rest: float, coef: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``[rest, coef]`` in the compute dtype, rounded once from float64; cached so a call
    costs no host-to-device copy (as the ``"lif"`` kernel's constants)."""
    return torch.tensor([rest, coef], dtype=torch.float64).to(device=device, dtype=dtype)


def _run_forward(x, y0, coef_t, coef, form, rest):
    steps = x.shape[0]
    xs = x.detach().contiguous().reshape(steps, -1)
    y0c = y0.detach().contiguous().reshape(-1)
    n = xs.shape[1]
    consts = _constants(rest, coef, _compute_dtype(x.dtype), x.device)
    c_arr, c_vec = _param_array(coef_t, consts, 1, y0)
    y = torch.empty_like(xs)
    y_last = torch.empty_like(y0c)
    if n > 0:
        block = _block(n, x.device)
        with _on(x.device):
            _kernels().leaky_forward[_grid(n, block)](
                xs, y0c, c_arr, consts, y, y_last, steps, n,
                FORM=form, C_VEC=c_vec, BLOCK=block, **_launch_options(block),
            )  # fmt: skip
    CALLS["forward"] += 1
    return y.reshape(x.shape), y_last.reshape(y0.shape)


class _LeakyFunction(torch.autograd.Function):
    """``(x, y0, coef tensor | None, coef float, form, rest) -> (y, y[T-1])``."""

    @staticmethod
    def forward(x, y0, coef_t, coef, form, rest):
        return _run_forward(x, y0, coef_t, coef, form, rest)

    setup_context = staticmethod(leaky_setup_context)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_y: torch.Tensor | None, g_last: torch.Tensor | None):
        if g_y is None and g_last is None:
            return None, None, None, None, None, None
        x, y0, y, coef_t = ctx.saved_tensors
        x_shape, y0_shape = ctx.shapes
        steps, n = x_shape[0], int(torch.Size(y0_shape).numel())
        dtype, device = ctx.dtype, ctx.device
        cdt = _compute_dtype(dtype)
        consts = _constants(ctx.rest, ctx.coef, cdt, device)
        like = torch.empty(y0_shape, dtype=dtype, device=device)
        c_arr, c_vec = _param_array(coef_t, consts, 1, like)
        gx = torch.empty((steps, n), dtype=dtype, device=device)
        gy0 = torch.empty(n, dtype=dtype, device=device)
        gc = torch.empty(n, dtype=cdt, device=device) if ctx.want_c else None
        # absent operands are never read (HAS_* / WANT_C); bound to a tensor of their dtype
        stand_in = gx
        operands = [
            stand_in if t is None else t.detach().contiguous() for t in (x, y0, y, g_y, g_last)
        ]
        if n > 0:
            block = _block(n, device)
            with _on(device):
                _kernels().leaky_backward[_grid(n, block)](
                    *operands, c_arr, consts, gx, gy0, gy0 if gc is None else gc, steps, n,
                    FORM=ctx.form, C_VEC=c_vec, HAS_GY=g_y is not None,
                    HAS_GL=g_last is not None, WANT_C=ctx.want_c, BLOCK=block,
                    **_launch_options(block),
                )  # fmt: skip
        CALLS["backward"] += 1
        g_coef = None
        if gc is not None:
            g_coef = gc.reshape(y0_shape).sum_to_size(coef_t.shape).to(coef_t.dtype)
        return gx.reshape(x_shape), gy0.reshape(y0_shape), g_coef, None, None, None


def leaky_scan_triton(
    x: torch.Tensor, y0: torch.Tensor, p: LeakyParameters
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused scan over ``[T, B, ...]`` on a CUDA device: the trajectory and ``y[T-1]``."""
    return fused_leaky(x, y0, p, _LeakyFunction, _run_forward)


register_family("leaky", sys.modules[__name__])  # the self-check runs this module's kernel
