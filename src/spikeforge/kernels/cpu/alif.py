"""The fused ``"alif"`` kernel for the ``"cpu"`` backend (adaptive-threshold LIF, see
:mod:`spikeforge.functional.alif`).

Like the ``"lif"`` kernel: forward reads ``x`` and writes the spikes and the final state;
backward recomputes ``H`` and the adaptation ``a`` of one block of neurons into a
per-thread buffer (``2·T`` rows) and runs one reverse pass carrying ``dL/dV`` and
``dL/da``. Autograd keeps only references to the inputs (``x``, ``v0``, ``a0`` and the
tensor parameters). Same arithmetic order as the reference, so spikes are bit-identical.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.function import once_differentiable

from ...functional.alif import ALIFParameters
from .._fused_common import (
    AlifConfig,
    alif_setup_context,
    alif_wanted,
    dynamics_reason,
    fused_alif,
    param_reason,
)
from . import _build
from ._pool import POOL
from .lif import _DTYPES, _block, _param_array, _ptr, _threads, input_reason, library_reason

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


class _ALIFFunction(torch.autograd.Function):
    """``(x, v0, a0, inv_tau | None, v_th | None, b | None, cfg) -> (S, V[T-1], a[T-1])``."""

    @staticmethod
    def forward(x, v0, a0, k_t, th_t, b_t, cfg):
        return _forward(x, v0, a0, k_t, th_t, b_t, cfg)

    setup_context = staticmethod(alif_setup_context)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_s: torch.Tensor, g_v: torch.Tensor, g_a: torch.Tensor):
        x, v0, a0, k_t, th_t, b_t = ctx.saved_tensors
        cfg: AlifConfig = ctx.cfg
        c = cfg.lif
        steps = x.shape[0]
        xs = x.detach().contiguous().reshape(steps, -1)
        n = xs.shape[1]
        v0c, a0c = (t.detach().contiguous().reshape(n) for t in (v0, a0))
        gs = g_s.contiguous()
        gvt, gat = (g.contiguous().reshape(n) for g in (g_v, g_a))
        k_arr, ks, th_arr, ts, b_arr, bs = _arrays(v0, k_t, th_t, b_t, cfg)
        wants = alif_wanted(ctx, k_t, th_t, b_t, c.charge)
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
        reduced = [
            None if g is None else g.reshape(v0.shape).sum_to_size(t.shape)
            for g, t in ((gk, k_t), (gth, th_t), (gb, b_t))
        ]
        return (gx.reshape(x.shape), gv0.reshape(v0.shape), ga0.reshape(a0.shape), *reduced, None)


def alif_sequence_cpu(
    x: torch.Tensor, v0: torch.Tensor, a0: torch.Tensor, p: ALIFParameters
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fused ALIF over ``[T, B, ...]``: unscaled spikes and the final ``V`` and ``a``."""
    return fused_alif(x, v0, a0, p, _ALIFFunction, _forward)
