"""The fused ``"alif"`` kernel for the ``"cpu"`` backend (adaptive-threshold LIF, see
:mod:`spikeforge.functional.alif`), as the ``torch.library`` custom ops
``spikeforge::alif_forward`` / ``alif_backward``.

Like the ``"lif"`` kernel: forward reads ``x`` and writes the spikes and the final state;
backward recomputes ``H`` and the adaptation ``a`` of one block of neurons into a
per-thread buffer (``2·T`` rows) and runs one reverse pass carrying ``dL/dV`` and
``dL/da``. Autograd keeps only references to the inputs (``x``, ``v0``, ``a0`` and the
tensor parameters). Same arithmetic order as the reference, so spikes are bit-identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ...functional.alif import ALIFParameters, alif_sequence_reference
from .._fused_common import (
    AlifConfig,
    KernelConfig,
    alif_wanted,
    dynamics_reason,
    kernel_config,
    param_reason,
)
from . import _build
from ._pool import POOL
from .lif import (
    _DTYPES,
    _block,
    _param_array,
    _ptr,
    _threads,
    cfg_args,
    define_op,
    differentiable_once,
    input_reason,
    library_reason,
)

CALLS = {"forward": 0, "backward": 0}  # so tests can see this path ran


def supports(x: torch.Tensor, p: ALIFParameters) -> str | None:
    """``None`` if the fused CPU kernel handles ``x`` with ``p``, else the reason."""
    return (
        input_reason(x)
        or dynamics_reason(x, p.lif)
        or param_reason("b", p.b, x)
        or library_reason()
    )


def _arrays(v0: torch.Tensor, k_t, th_t, b_t, cfg: AlifConfig) -> list[Any]:
    """``[k, ks, th, ts, b, bs]``: each parameter as one value or one per neuron."""
    out: list[Any] = []
    for value, default in ((k_t, cfg.lif.k), (th_t, cfg.lif.th), (b_t, cfg.b)):
        out.extend(_param_array(value, default, v0))
    return out


def _forward(x, v0, a0, k_t, th_t, b_t, cfg: AlifConfig):
    lib = _build.library()
    assert lib is not None  # supports() checked
    steps = x.shape[0]
    xs = x.detach().contiguous().reshape(steps, -1)
    v0c, a0c = (t.detach().contiguous().reshape(-1) for t in (v0, a0))
    k_arr, ks, th_arr, ts, b_arr, bs = _arrays(v0, k_t, th_t, b_t, cfg)
    spikes = POOL.empty(xs.shape, xs.dtype)
    v, a = torch.empty_like(v0c), torch.empty_like(a0c)
    c = cfg.lif
    rc = getattr(lib, f"sf_alif_forward_{_DTYPES[x.dtype]}")(
        xs.data_ptr(), v0c.data_ptr(), a0c.data_ptr(), spikes.data_ptr(), v.data_ptr(),
        a.data_ptr(), k_arr.data_ptr(), ks, th_arr.data_ptr(), ts, b_arr.data_ptr(), bs,
        cfg.rho, c.v_reset, steps, xs.shape[1], c.charge, c.reset, _block(xs.shape[1]),
        _threads(),
    )  # fmt: skip
    if rc != 0:
        raise RuntimeError(f"spikeforge cpu alif forward failed (code {rc})")
    CALLS["forward"] += 1
    return spikes.reshape(x.shape), v.reshape(v0.shape), a.reshape(a0.shape)


def run_backward(
    x: torch.Tensor,
    v0: torch.Tensor,
    a0: torch.Tensor,
    g_s: torch.Tensor,
    g_v: torch.Tensor,
    g_a: torch.Tensor,
    k_t: torch.Tensor | None,
    th_t: torch.Tensor | None,
    b_t: torch.Tensor | None,
    cfg: AlifConfig,
    wants: Sequence[bool],
) -> tuple[torch.Tensor, ...]:
    """The C backward: ``dL/dx [T, B, ...]``, ``dL/dv0``, ``dL/da0`` and the per-neuron
    ``[B, ...]`` gradients of ``(inv_tau, v_th, b)`` (``None`` where ``wants`` is false)."""
    c = cfg.lif
    steps = x.shape[0]
    xs = x.detach().contiguous().reshape(steps, -1)
    n = xs.shape[1]
    v0c, a0c = (t.detach().contiguous().reshape(n) for t in (v0, a0))
    gs = g_s.contiguous()
    gvt, gat = (g.contiguous().reshape(n) for g in (g_v, g_a))
    k_arr, ks, th_arr, ts, b_arr, bs = _arrays(v0, k_t, th_t, b_t, cfg)
    gk, gth, gb = (torch.empty_like(v0c) if want else None for want in wants)
    gx = POOL.empty(xs.shape, xs.dtype)
    gv0, ga0 = torch.empty_like(v0c), torch.empty_like(a0c)
    lib = _build.library()
    assert lib is not None
    rc = getattr(lib, f"sf_alif_backward_{_DTYPES[x.dtype]}")(
        xs.data_ptr(), v0c.data_ptr(), a0c.data_ptr(), gs.data_ptr(), gvt.data_ptr(),
        gat.data_ptr(), gx.data_ptr(), gv0.data_ptr(), ga0.data_ptr(), k_arr.data_ptr(), ks,
        th_arr.data_ptr(), ts, b_arr.data_ptr(), bs, cfg.rho, _ptr(gk), _ptr(gth), _ptr(gb),
        c.v_reset, steps, n, c.charge, c.reset, int(c.detach), c.sid, c.a, c.b,
        _block(n, 2 * steps, x.element_size()), _threads(),
    )  # fmt: skip
    if rc != 0:
        raise RuntimeError(f"spikeforge cpu alif backward failed (code {rc})")
    CALLS["backward"] += 1
    per_neuron = tuple(None if g is None else g.reshape(v0.shape) for g in (gk, gth, gb))
    return (gx.reshape(x.shape), gv0.reshape(v0.shape), ga0.reshape(a0.shape), *per_neuron)


# --- torch.library custom ops (see the ``"lif"`` kernel's module for why); the config
# travels as the LIF part's fields (:func:`.lif.cfg_args`) plus ``b`` and ``rho``.
def _config(args: Sequence[Any]) -> AlifConfig:
    *lif, b, rho = args
    return AlifConfig(KernelConfig(*lif), b, rho)


@define_op("spikeforge::alif_forward")
def alif_forward_op(
    x: torch.Tensor,
    v0: torch.Tensor,
    a0: torch.Tensor,
    k_t: torch.Tensor | None,
    th_t: torch.Tensor | None,
    b_t: torch.Tensor | None,
    charge: int,
    reset: int,
    detach: bool,
    sid: int,
    a: float,
    b: float,
    v_reset: float,
    k: float,
    th: float,
    b_val: float,
    rho: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fused ALIF forward: unscaled spikes ``[T, B, ...]``, the final ``V`` and ``a``
    ``[B, ...]``. ``b`` is the surrogate's second constant; ``b_val`` the float
    adaptation strength."""
    cfg = _config((charge, reset, detach, sid, a, b, v_reset, k, th, b_val, rho))
    return _forward(x, v0, a0, k_t, th_t, b_t, cfg)


@torch.library.register_fake("spikeforge::alif_forward")
def _(x, v0, a0, k_t, th_t, b_t, *cfg):
    return x.new_empty(x.shape), v0.new_empty(v0.shape), a0.new_empty(a0.shape)


@define_op("spikeforge::alif_backward")
def alif_backward_op(
    x: torch.Tensor,
    v0: torch.Tensor,
    a0: torch.Tensor,
    g_s: torch.Tensor,
    g_v: torch.Tensor,
    g_a: torch.Tensor,
    k_t: torch.Tensor | None,
    th_t: torch.Tensor | None,
    b_t: torch.Tensor | None,
    charge: int,
    reset: int,
    detach: bool,
    sid: int,
    a: float,
    b: float,
    v_reset: float,
    k: float,
    th: float,
    b_val: float,
    rho: float,
    want_k: bool,
    want_th: bool,
    want_b: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fused ALIF backward: ``dL/dx``, ``dL/dv0``, ``dL/da0`` and the per-neuron
    ``[B, ...]`` gradients of ``(inv_tau, v_th, b)`` (empty ``[0]`` where not wanted)."""
    cfg = _config((charge, reset, detach, sid, a, b, v_reset, k, th, b_val, rho))
    wants = (want_k, want_th, want_b)
    grads = run_backward(x, v0, a0, g_s, g_v, g_a, k_t, th_t, b_t, cfg, wants)
    return (*grads[:3], *(x.new_empty((0,)) if g is None else g for g in grads[3:]))


@torch.library.register_fake("spikeforge::alif_backward")
def _(x, v0, a0, g_s, g_v, g_a, k_t, th_t, b_t, *rest):
    wants = rest[-3:]
    params = (v0.new_empty(v0.shape if want else (0,)) for want in wants)
    return x.new_empty(x.shape), v0.new_empty(v0.shape), a0.new_empty(a0.shape), *params


def _autograd_backward(ctx: Any, g_s: Any, g_v: Any, g_a: Any) -> tuple[Any, ...]:
    x, v0, a0, k_t, th_t, b_t = ctx.saved_tensors
    wants = alif_wanted(ctx, k_t, th_t, b_t, ctx.cfg[0])
    grads = alif_backward_op(x, v0, a0, g_s, g_v, g_a, k_t, th_t, b_t, *ctx.cfg, *wants)
    reduced = [
        g.sum_to_size(t.shape) if want else None
        for g, t, want in zip(grads[3:], (k_t, th_t, b_t), wants, strict=True)
    ]
    return (*grads[:3], *reduced) + (None,) * len(ctx.cfg)


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    # only references to the inputs (backward recomputes H and a); gradients of unused
    # outputs arrive as zeros (the C backward reads all three)
    ctx.save_for_backward(*inputs[:6])
    ctx.cfg = tuple(inputs[6:])


torch.library.register_autograd(
    "spikeforge::alif_forward", _autograd_backward, setup_context=_setup_context
)
differentiable_once("spikeforge::alif_backward")


def alif_sequence_cpu(
    x: torch.Tensor, v0: torch.Tensor, a0: torch.Tensor, p: ALIFParameters
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fused ALIF over ``[T, B, ...]`` through ``torch.ops.spikeforge.alif_forward``:
    unscaled spikes ``[T, B, ...]`` and the final ``V`` and ``a`` ``[B, ...]``."""
    same = all(
        t.dtype == x.dtype and t.device == x.device and t.shape == x.shape[1:] for t in (v0, a0)
    )
    if not same:
        return alif_sequence_reference(x, v0, a0, p)  # type promotion / broadcasting
    lif_cfg, k_t, th_t = kernel_config(p.lif)
    b_t = p.b if isinstance(p.b, torch.Tensor) else None
    b_val = 0.0 if b_t is not None else float(p.b)
    return alif_forward_op(x, v0, a0, k_t, th_t, b_t, *cfg_args(lif_cfg), b_val, float(p.rho))
