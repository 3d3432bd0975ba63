"""The fused ``"leaky"`` kernel for the ``"cpu"`` backend (first-order linear scans: the LI
readout's membrane, CuBa's synaptic current; see :mod:`spikeforge.functional.leaky`).

Forward reads ``x`` and writes the trajectory ``y`` once (with the scan state of a block of
neurons in cache). Backward is one reverse pass: it reads ``dL/dy`` and writes ``dL/dx``;
only for the gradient of a tensor coefficient does it also read the saved trajectory
(an output, kept by autograd anyway for whoever consumes it) and, for the ``"lif"``
form, the input. Same C library and arithmetic discipline as the ``"lif"`` kernel, so
the trajectory is bit-identical to the ``"torch"`` reference.
"""

from __future__ import annotations

from typing import Any

import torch

from ...functional.leaky import LeakyParameters
from .._fused_common import fused_leaky, leaky_setup_context, param_reason
from . import _build
from ._pool import POOL
from .lif import _DTYPES, _block, _param_array, _ptr, _threads, input_reason, library_reason

CALLS = {"forward": 0, "backward": 0}  # so tests can see this path ran


def supports(x: torch.Tensor, p: LeakyParameters) -> str | None:
    """``None`` if the fused CPU kernel handles ``x`` with ``p``, else the reason."""
    shape = "input must be [T, B, ...]" if x.dim() < 2 else None
    return input_reason(x) or shape or param_reason("coef", p.coef, x) or library_reason()


def _coef_array(coef: torch.Tensor | float, y0: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``(array, stride)``: one value (stride 0) or one per neuron ``[N]`` (stride 1)."""
    if isinstance(coef, torch.Tensor):
        return _param_array(coef, 0.0, y0)
    return _param_array(None, float(coef), y0)


def _run_forward(
    x: torch.Tensor,
    y0: torch.Tensor,
    coef_t: torch.Tensor | None,
    coef: float,
    form: int,
    rest: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    lib = _build.library()
    assert lib is not None  # supports() checked
    steps = x.shape[0]
    xs = x.detach().contiguous().reshape(steps, -1)
    y0c = y0.detach().contiguous().reshape(-1)
    c_arr, cs = _coef_array(coef_t if coef_t is not None else coef, y0)
    y = POOL.empty(xs.shape, xs.dtype)
    y_last = torch.empty_like(y0c)
    fn = getattr(lib, f"sf_leaky_forward_{_DTYPES[x.dtype]}")
    rc = fn(
        xs.data_ptr(), y0c.data_ptr(), y.data_ptr(), y_last.data_ptr(), c_arr.data_ptr(), cs,
        rest, steps, xs.shape[1], form, _block(xs.shape[1]), _threads(),
    )  # fmt: skip
    if rc != 0:
        raise RuntimeError(f"spikeforge cpu leaky forward failed (code {rc})")
    CALLS["forward"] += 1
    return y.reshape(x.shape), y_last.reshape(y0.shape)


class _LeakyFunction(torch.autograd.Function):
    """``(x, y0, coef tensor | None, coef float, form, rest) -> (y, y[T-1])``."""

    @staticmethod
    def forward(x, y0, coef_t, coef, form, rest):
        return _run_forward(x, y0, coef_t, coef, form, rest)

    setup_context = staticmethod(leaky_setup_context)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g_y: torch.Tensor | None, g_last: torch.Tensor | None):
        if g_y is None and g_last is None:
            return None, None, None, None, None, None
        x, y0, y, coef_t = ctx.saved_tensors
        x_shape, y0_shape = ctx.shapes
        steps, n = x_shape[0], int(torch.Size(y0_shape).numel())
        dtype = ctx.dtype
        like = torch.empty(y0_shape, dtype=dtype)
        c_arr, cs = _coef_array(coef_t if coef_t is not None else ctx.coef, like)
        gy = None if g_y is None else g_y.contiguous()
        gyt = None if g_last is None else g_last.contiguous()
        gx = POOL.empty((steps, n), dtype)
        gy0 = torch.empty(n, dtype=dtype)
        gc = torch.empty(n, dtype=dtype) if ctx.want_c else None
        ys = None if y is None else y.detach().contiguous()
        y0c = None if y0 is None else y0.detach().contiguous()
        xs = None if x is None else x.detach().contiguous()
        lib = _build.library()
        assert lib is not None
        fn = getattr(lib, f"sf_leaky_backward_{_DTYPES[dtype]}")
        rc = fn(
            _ptr(xs), _ptr(y0c), _ptr(ys), _ptr(gy), _ptr(gyt), gx.data_ptr(), gy0.data_ptr(),
            c_arr.data_ptr(), cs, _ptr(gc), ctx.rest, steps, n, ctx.form, _block(n), _threads(),
        )  # fmt: skip
        if rc != 0:
            raise RuntimeError(f"spikeforge cpu leaky backward failed (code {rc})")
        CALLS["backward"] += 1
        g_coef = None
        if gc is not None:
            g_coef = gc.reshape(y0_shape).sum_to_size(coef_t.shape)
        return gx.reshape(x_shape), gy0.reshape(y0_shape), g_coef, None, None, None


def leaky_scan_cpu(
    x: torch.Tensor, y0: torch.Tensor, p: LeakyParameters
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused scan over ``[T, B, ...]``: the trajectory and ``y[T-1]``."""
    return fused_leaky(x, y0, p, _LeakyFunction, _run_forward)
