"""The fused ``"alif"`` kernel for the ``"triton"`` backend (adaptive-threshold LIF; see
:mod:`spikeforge.functional.alif` and the ``"cpu"`` kernel :mod:`spikeforge.kernels.cpu.alif`).

Forward reads ``x`` and writes the spikes and the final state. Backward is one launch:
each program recomputes ``H`` and the adaptation ``a`` of its neurons into scratch rows
(two ``[T, N]`` compute-dtype buffers, freed when backward returns) and runs the reverse
pass. Autograd keeps only references to the inputs. float16 / bfloat16 are computed in
float32 registers. Checked once per configuration on each CUDA device (:mod:`.check`).
"""

from __future__ import annotations

import functools
import sys
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
from .check import register_family, self_check_reason
from .lif import (
    _block,
    _compute_dtype,
    _grid,
    _kernels,
    _launch_options,
    _on,
    _param_array,
    _reduce,
    device_reason,
    lif_constant_values,
)

CALLS = {"forward": 0, "backward": 0}  # kernel launches, so tests can see this path ran


def supports(x: torch.Tensor, p: ALIFParameters) -> str | None:
    """``None`` if the Triton kernel handles ``x`` with ``p``, else the reason."""
    reason = device_reason(x) or dynamics_reason(x, p.lif) or param_reason("b", p.b, x)
    if reason is not None:
        return reason
    return self_check_reason(x, p, family="alif")  # CUDA tensors: first use is checked


@functools.lru_cache(maxsize=64)
def _constants(cfg: AlifConfig, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The LIF constants then ``[adaptation b, rho]``, computed in float64 and rounded
    once to the compute dtype (cached: no host-to-device copy per step)."""
    values = [*lif_constant_values(cfg.lif), cfg.b, cfg.rho]
    return torch.tensor(values, dtype=torch.float64).to(device=device, dtype=dtype)


def _flat(x, v0, a0, k_t, th_t, b_t, cfg):
    xs = x.detach().contiguous().reshape(x.shape[0], -1)
    v0c, a0c = (t.detach().contiguous().reshape(-1) for t in (v0, a0))
    consts = _constants(cfg, _compute_dtype(x.dtype), x.device)
    arrays = [_param_array(t, consts, slot, v0) for t, slot in ((k_t, 5), (th_t, 6), (b_t, 7))]
    return xs, v0c, a0c, consts, arrays


def _forward(x, v0, a0, k_t, th_t, b_t, cfg: AlifConfig):
    xs, v0c, a0c, consts, arrays = _flat(x, v0, a0, k_t, th_t, b_t, cfg)
    (k_arr, k_vec), (th_arr, th_vec), (b_arr, b_vec) = arrays
    steps, n = xs.shape
    spikes = torch.empty_like(xs)
    v, a = torch.empty_like(v0c), torch.empty_like(a0c)
    if n > 0:
        block = _block(n, x.device)
        with _on(x.device):
            _kernels().alif_forward[_grid(n, block)](
                xs, v0c, a0c, k_arr, th_arr, b_arr, consts, spikes, v, a, steps, n,
                CHARGE=cfg.lif.charge, RESET=cfg.lif.reset, K_VEC=k_vec, TH_VEC=th_vec,
                B_VEC=b_vec, BLOCK=block, **_launch_options(block),
            )  # fmt: skip
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
        xs, v0c, a0c, consts, arrays = _flat(x, v0, a0, k_t, th_t, b_t, cfg)
        (k_arr, k_vec), (th_arr, th_vec), (b_arr, b_vec) = arrays
        steps, n = xs.shape
        cdt = consts.dtype
        wants = alif_wanted(ctx, k_t, th_t, b_t, cfg.lif.charge)
        per_neuron = [torch.empty(n, dtype=cdt, device=x.device) if w else None for w in wants]
        gx = torch.empty_like(xs)
        gv0, ga0 = torch.empty_like(v0c), torch.empty_like(a0c)
        if n > 0:
            block = _block(n, x.device)
            h = torch.empty((steps, n), dtype=cdt, device=x.device)  # scratch (module doc)
            ah = torch.empty((steps, n), dtype=cdt, device=x.device)
            unused = torch.empty(1, dtype=cdt, device=x.device)
            gs, gvt, gat = g_s.contiguous(), g_v.contiguous().reshape(n), g_a.contiguous()
            with _on(x.device):
                _kernels().alif_backward[_grid(n, block)](
                    xs, v0c, a0c, h, ah, gs, gvt, gat.reshape(n), k_arr, th_arr, b_arr,
                    consts, gx, gv0, ga0, *(unused if g is None else g for g in per_neuron),
                    steps, n, CHARGE=cfg.lif.charge, RESET=cfg.lif.reset,
                    DETACH=cfg.lif.detach, SID=cfg.lif.sid, K_VEC=k_vec, TH_VEC=th_vec,
                    B_VEC=b_vec, WANT_K=wants[0], WANT_TH=wants[1], WANT_B=wants[2],
                    BLOCK=block, **_launch_options(block),
                )  # fmt: skip
        CALLS["backward"] += 1
        reduced = [
            None if g is None else _reduce(g, v0, t)
            for g, t in zip(per_neuron, (k_t, th_t, b_t), strict=True)
        ]
        return (gx.reshape(x.shape), gv0.reshape(v0.shape), ga0.reshape(a0.shape), *reduced, None)


def alif_sequence_triton(
    x: torch.Tensor, v0: torch.Tensor, a0: torch.Tensor, p: ALIFParameters
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fused ALIF over ``[T, B, ...]`` on a CUDA device: unscaled spikes, final ``V``, ``a``."""
    return fused_alif(x, v0, a0, p, _ALIFFunction, _forward)


register_family("alif", sys.modules[__name__])  # the self-check runs this module's kernel
