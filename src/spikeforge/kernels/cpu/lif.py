"""The fused ``"lif"`` kernel for the ``"cpu"`` backend: autograd wrapper around the C code.

Saved for backward: nothing new. Autograd keeps references to the layer's own inputs
``x`` and ``v0`` (and tensor parameters); backward recomputes the membrane ``H`` block by
block into a cache-resident buffer and runs the reverse pass from it. So no ``[T, N]``
tensor is allocated for backward, and the forward pass writes only the spikes and the
final membrane. Counted as saved-tensor bytes (``saved_tensors_hooks``), that is the
input: one element per neuron-step (4 B in float32), plus ``v0`` (one per neuron).
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ...functional.lif import LIFParameters
from .._fused_common import KernelConfig, dynamics_reason, fused_lif, lif_autograd
from . import _build
from ._pool import POOL

_DTYPES = {torch.float32: "f32", torch.float64: "f64"}
BLOCK = 32768  # largest block (SPIKEFORGE_CPU_BLOCK overrides every block size)
BWD_CACHE_BYTES = 4 * 1024 * 1024  # per-thread budget for a block's recomputed H (backward)
STREAM_BYTES = 1 << 62  # non-temporal stores: measured slower on the target machine, so opt-in


def input_reason(x: torch.Tensor) -> str | None:
    """Why the C kernels cannot take ``x`` (device, dtype), or ``None``."""
    if x.device.type != "cpu":
        return f"input is on {x.device}; the cpu kernel needs CPU tensors"
    if x.dtype not in _DTYPES:
        return f"dtype {x.dtype} is not supported (float32 and float64 are)"
    return None


def library_reason() -> str | None:
    """Why the C library is unavailable (warned once per process), or ``None``."""
    reason = _build.unavailable_reason()
    if reason is not None:
        _build.warn_unavailable()
    return reason


def supports(x: torch.Tensor, p: LIFParameters) -> str | None:
    """``None`` if the fused CPU kernel handles ``x`` with ``p``, else the reason."""
    return input_reason(x) or dynamics_reason(x, p) or library_reason()


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _param_array(value: torch.Tensor | None, default: float, like: torch.Tensor) -> Any:
    """``(array, stride)``: one value (stride 0) or one per neuron ``[N]`` (stride 1)."""
    if value is None:
        return torch.full((1,), default, dtype=like.dtype), 0
    value = value.detach()
    if value.numel() == 1:
        return value.reshape(1).contiguous(), 0
    return value.expand(like.shape).contiguous().reshape(-1), 1


def _threads() -> int:
    return max(1, torch.get_num_threads())


def _block(n: int, steps: int | None = None, itemsize: int = 4) -> int:
    """Neurons per work item.

    Forward: large blocks (long contiguous row runs, state in L2). Backward: the block's
    recomputed ``H`` (``steps x block``) should stay in L2, so the block shrinks with T.
    """
    env = os.environ.get("SPIKEFORGE_CPU_BLOCK")
    if env:
        return max(1, int(env))
    block = min(BLOCK, -(-n // _threads()))
    if steps is not None:
        block = min(block, BWD_CACHE_BYTES // (steps * itemsize))
    return max(64, block - block % 16)


def _stream(nbytes: int) -> int:
    """Non-temporal stores for outputs much larger than the caches (``SPIKEFORGE_CPU_STREAM``
    = 0 / 1 forces them off / on)."""
    env = os.environ.get("SPIKEFORGE_CPU_STREAM")
    if env in ("0", "1"):
        return int(env)
    return int(nbytes >= STREAM_BYTES)


def _forward(
    x: torch.Tensor,
    v0: torch.Tensor,
    k_t: torch.Tensor | None,
    th_t: torch.Tensor | None,
    cfg: KernelConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    lib = _build.library()
    assert lib is not None  # supports() checked
    steps = x.shape[0]
    xs = x.detach().contiguous().reshape(steps, -1)
    v0c = v0.detach().contiguous().reshape(-1)
    k_arr, ks = _param_array(k_t, cfg.k, v0)
    th_arr, ts = _param_array(th_t, cfg.th, v0)
    spikes = POOL.empty(xs.shape, xs.dtype)
    v = torch.empty_like(v0c)
    fn = getattr(lib, f"sf_lif_forward_{_DTYPES[x.dtype]}")
    rc = fn(
        xs.data_ptr(),
        v0c.data_ptr(),
        spikes.data_ptr(),
        v.data_ptr(),
        k_arr.data_ptr(),
        ks,
        th_arr.data_ptr(),
        ts,
        cfg.v_reset,
        steps,
        xs.shape[1],
        cfg.charge,
        cfg.reset,
        _block(xs.shape[1]),
        _stream(xs.numel() * xs.element_size()),
        _threads(),
    )
    if rc != 0:
        raise RuntimeError(f"spikeforge cpu lif forward failed (code {rc})")
    _build.STATE.calls["forward"] += 1
    return spikes.reshape(x.shape), v.reshape(v0.shape)


def _backward(ctx: Any, g_spikes: torch.Tensor | None, g_v: torch.Tensor | None) -> tuple[Any, ...]:
    """Gradients of ``(x, v0, k_t, th_t, cfg)`` (see :func:`.._fused_common.lif_autograd`)."""
    x, v0, k_t, th_t = ctx.saved_tensors
    cfg: KernelConfig = ctx.cfg
    steps = x.shape[0]
    xs = x.detach().contiguous().reshape(steps, -1)
    n = xs.shape[1]
    v0c = v0.detach().contiguous().reshape(n)
    gs = torch.zeros_like(xs) if g_spikes is None else g_spikes.contiguous()
    gvt = torch.zeros_like(v0c) if g_v is None else g_v.contiguous().reshape(n)
    k_arr, ks = _param_array(k_t, cfg.k, v0)
    th_arr, ts = _param_array(th_t, cfg.th, v0)
    want_k = k_t is not None and ctx.needs_input_grad[2] and cfg.charge != 0
    want_th = th_t is not None and ctx.needs_input_grad[3]
    gx = POOL.empty(xs.shape, xs.dtype)
    gv0 = torch.empty_like(v0c)
    gk = torch.empty_like(v0c) if want_k else None
    gth = torch.empty_like(v0c) if want_th else None
    lib = _build.library()
    assert lib is not None
    fn = getattr(lib, f"sf_lif_backward_{_DTYPES[x.dtype]}")
    rc = fn(
        xs.data_ptr(),
        v0c.data_ptr(),
        gs.data_ptr(),
        gvt.data_ptr(),
        gx.data_ptr(),
        gv0.data_ptr(),
        k_arr.data_ptr(),
        ks,
        th_arr.data_ptr(),
        ts,
        _ptr(gk),
        _ptr(gth),
        cfg.v_reset,
        steps,
        n,
        cfg.charge,
        cfg.reset,
        int(cfg.detach),
        cfg.sid,
        cfg.a,
        cfg.b,
        _block(n, steps, x.element_size()),
        _stream(xs.numel() * xs.element_size()),
        _threads(),
    )
    if rc != 0:
        raise RuntimeError(f"spikeforge cpu lif backward failed (code {rc})")
    _build.STATE.calls["backward"] += 1
    gk_out = None if gk is None else gk.reshape(v0.shape).sum_to_size(k_t.shape)
    gth_out = None if gth is None else gth.reshape(v0.shape).sum_to_size(th_t.shape)
    return gx.reshape(x.shape), gv0.reshape(v0.shape), gk_out, gth_out, None


_LIFFunction = lif_autograd(_forward, _backward)


def lif_sequence_cpu(
    x: torch.Tensor, v0: torch.Tensor, p: LIFParameters
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused IF/LIF/PLIF over ``[T, B, ...]``: unscaled spikes and the final membrane."""
    return fused_lif(x, v0, p, _LIFFunction, _forward)
