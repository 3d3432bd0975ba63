"""The fused ``"leaky"`` kernel for the ``"cpu"`` backend (first-order linear scans: the LI
readout's membrane, CuBa's synaptic current; see :mod:`spikeforge.functional.leaky`), as
the ``torch.library`` custom ops ``spikeforge::leaky_forward`` / ``leaky_backward``.

Forward reads ``x`` and writes the trajectory ``y`` once (with the scan state of a block of
neurons in cache). Backward is one reverse pass: it reads ``dL/dy`` and writes ``dL/dx``;
only for the gradient of a tensor coefficient does it also read the saved trajectory
(an output, kept by autograd anyway for whoever consumes it) and, for the ``"lif"``
form, the input. Same C library and arithmetic discipline as the ``"lif"`` kernel, so
the trajectory is bit-identical to the ``"torch"`` reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ...functional.leaky import LEAKY_FORMS, LeakyParameters, leaky_scan_reference
from .._fused_common import leaky_setup_context, param_reason
from . import _build
from ._pool import POOL
from .lif import (
    _DTYPES,
    _block,
    _param_array,
    _ptr,
    _threads,
    define_op,
    differentiable_once,
    input_reason,
    library_reason,
)

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


def run_backward(
    x: torch.Tensor | None,
    y0: torch.Tensor | None,
    y: torch.Tensor | None,
    g_y: torch.Tensor | None,
    g_last: torch.Tensor | None,
    coef_t: torch.Tensor | None,
    coef: float,
    form: int,
    rest: float,
    want_c: bool,
    x_shape: Sequence[int],
    y0_shape: Sequence[int],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The C backward: ``(dL/dx [T, B, ...], dL/dy0 [B, ...], dL/dcoef per neuron
    [B, ...] or None)``. ``x``, ``y0`` and the trajectory ``y`` are needed only for the
    coefficient's gradient (``x`` only for the ``"lif"`` form); at least one of ``g_y``,
    ``g_last`` is given (it sets the dtype)."""
    given = g_y if g_y is not None else g_last
    assert given is not None
    steps, n = int(x_shape[0]), int(torch.Size(y0_shape).numel())
    dtype = given.dtype
    like = torch.empty(tuple(y0_shape), dtype=dtype)
    c_arr, cs = _coef_array(coef_t if coef_t is not None else coef, like)
    gy = None if g_y is None else g_y.contiguous()
    gyt = None if g_last is None else g_last.contiguous()
    gx = POOL.empty((steps, n), dtype)
    gy0 = torch.empty(n, dtype=dtype)
    gc = torch.empty(n, dtype=dtype) if want_c else None
    ys, y0c, xs = (None if t is None else t.detach().contiguous() for t in (y, y0, x))
    lib = _build.library()
    assert lib is not None
    fn = getattr(lib, f"sf_leaky_backward_{_DTYPES[dtype]}")
    rc = fn(
        _ptr(xs), _ptr(y0c), _ptr(ys), _ptr(gy), _ptr(gyt), gx.data_ptr(), gy0.data_ptr(),
        c_arr.data_ptr(), cs, _ptr(gc), rest, steps, n, form, _block(n), _threads(),
    )  # fmt: skip
    if rc != 0:
        raise RuntimeError(f"spikeforge cpu leaky backward failed (code {rc})")
    CALLS["backward"] += 1
    g_coef = None if gc is None else gc.reshape(tuple(y0_shape))
    return gx.reshape(tuple(x_shape)), gy0.reshape(tuple(y0_shape)), g_coef


# --- torch.library custom ops (see the ``"lif"`` kernel's module for why) ---------------
@define_op("spikeforge::leaky_forward")
def leaky_forward_op(
    x: torch.Tensor,
    y0: torch.Tensor,
    coef_t: torch.Tensor | None,
    coef: float,
    form: int,
    rest: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused leaky scan: the trajectory ``[T, B, ...]`` and ``y[T-1]`` ``[B, ...]``."""
    return _run_forward(x, y0, coef_t, coef, form, rest)


@torch.library.register_fake("spikeforge::leaky_forward")
def _(x, y0, coef_t, coef, form, rest):
    return x.new_empty(x.shape), y0.new_empty(y0.shape)


@define_op("spikeforge::leaky_backward")
def leaky_backward_op(
    x: torch.Tensor | None,
    y0: torch.Tensor | None,
    y: torch.Tensor | None,
    g_y: torch.Tensor | None,
    g_last: torch.Tensor | None,
    coef_t: torch.Tensor | None,
    coef: float,
    form: int,
    rest: float,
    want_c: bool,
    x_shape: list[int],
    y0_shape: list[int],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fused leaky backward: ``dL/dx``, ``dL/dy0`` and the per-neuron ``[B, ...]``
    gradient of the coefficient (an empty ``[0]`` tensor unless ``want_c``). The shapes
    come as arguments because ``x`` and ``y0`` are only saved when ``want_c``."""
    gx, gy0, gc = run_backward(
        x, y0, y, g_y, g_last, coef_t, coef, form, rest, want_c, x_shape, y0_shape
    )
    return gx, gy0, gx.new_empty((0,)) if gc is None else gc


@torch.library.register_fake("spikeforge::leaky_backward")
def _(x, y0, y, g_y, g_last, coef_t, coef, form, rest, want_c, x_shape, y0_shape):
    given = g_y if g_y is not None else g_last
    return (
        given.new_empty(x_shape),
        given.new_empty(y0_shape),
        given.new_empty(y0_shape if want_c else (0,)),
    )


def _autograd_backward(ctx: Any, g_y: Any, g_last: Any) -> tuple[Any, ...]:
    if g_y is None and g_last is None:
        return None, None, None, None, None, None
    x, y0, y, coef_t = ctx.saved_tensors
    x_shape, y0_shape = ctx.shapes
    gx, gy0, gc = leaky_backward_op(
        x, y0, y, g_y, g_last, coef_t, ctx.coef, ctx.form, ctx.rest, ctx.want_c,
        list(x_shape), list(y0_shape),
    )  # fmt: skip
    g_coef = gc.sum_to_size(coef_t.shape) if ctx.want_c else None
    return gx, gy0, g_coef, None, None, None


torch.library.register_autograd(
    "spikeforge::leaky_forward", _autograd_backward, setup_context=leaky_setup_context
)
differentiable_once("spikeforge::leaky_backward")


def leaky_scan_cpu(
    x: torch.Tensor, y0: torch.Tensor, p: LeakyParameters
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused scan over ``[T, B, ...]`` through ``torch.ops.spikeforge.leaky_forward``:
    the trajectory ``[T, B, ...]`` and ``y[T-1]`` ``[B, ...]``."""
    if y0.dtype != x.dtype or y0.device != x.device or y0.shape != x.shape[1:]:
        return leaky_scan_reference(x, y0, p)  # type promotion / broadcasting: reference
    form = LEAKY_FORMS.index(p.form)
    coef_t = p.coef if isinstance(p.coef, torch.Tensor) and form != 0 else None
    coef = 0.0 if coef_t is not None or form == 0 else float(p.coef)
    return leaky_forward_op(x, y0, coef_t, coef, form, float(p.rest))
