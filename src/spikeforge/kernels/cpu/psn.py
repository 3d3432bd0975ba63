"""The fused ``"psn"`` kernel for the ``"cpu"`` backend: spikes ``S = Θ(W X + b)`` of the
parallel-neuron family (PSN, masked PSN, sliding PSN in GEMM form, ParaLIF's threshold
mode), wrapped as the ``torch.library`` custom ops ``spikeforge::psn_forward`` and
``spikeforge::psn_backward`` (fake and autograd registrations as in :mod:`.lif`, so
``torch.compile(fullgraph=True)`` and ``torch.export`` see one node).

Layout: ``x`` ``[T, B, ...]`` is ``[T, N]``; ``W`` ``[T, T]``; ``b`` ``[T]``. The C code
(``psn.c``) works on blocks of columns whose ``X``, ``H`` and ``dL/dH`` stay in L2:
forward computes ``H_blk = W X_blk + b`` and writes the spikes (``H`` is never stored);
backward recomputes ``H_blk`` and forms ``dH = dS ⊙ σ'(H)``, ``dX = Wᵀ dH``,
``dW += dH X_blkᵀ``, ``db += Σ dH`` block by block. Autograd saves only references to
``x``, ``W`` and ``b`` (the caller holds ``x`` anyway): no ``[T, N]`` tensor is kept.

Agreement with the ``"torch"`` backend (one ``addmm`` + the spike function): the sum over
the inner time index runs in order ``0..T-1`` with fused multiply-adds, not in MKL's
order, so ``H`` agrees to rounding (a few ulps of ``Σ|W||X|``), not bitwise. Spikes are
identical except where ``H`` lies within that rounding of the threshold; gradients agree
within 1e-5 (float32) and 1e-12 (float64) of their largest entry — typically 1e-7 and
1e-15 (``tests/test_kernels_cpu_psn.py``). The per-column sum order does not depend on
the block size or thread count (so backward recomputes forward's ``H`` exactly); ``dW``
and ``db`` are summed per thread and then in thread order, deterministic for a given
``torch.get_num_threads()``. The outputs (spikes, ``dL/dx``) leave the cache with
non-temporal stores (no read-for-ownership of lines written once; :data:`STREAM`).
Exactly-zero entries of ``W`` are skipped (a banded
``W`` costs its band), so an ``inf``/``NaN`` in ``x`` multiplied by such a zero does not
turn ``H`` into ``NaN`` as it would in torch.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

import torch

from ...functional.parallel import PSNParameters
from .._fused_common import surrogate_code
from . import _build
from ._pool import POOL
from .lif import define_op, differentiable_once, input_reason, library_reason

_DTYPES = {torch.float32: "f32", torch.float64: "f64"}
#: Per-thread budget for a column block's packed ``X``, ``H`` and ``dL/dH`` (backward).
BLOCK_BYTES = 1024 * 1024
MAX_BLOCK = 512  # columns; longer blocks gain nothing once a tile row is long
MIN_BLOCK = 32
_EMPTY_GRAD = (0,)  # the shape an op returns for a gradient nobody wants
#: Non-temporal stores of the spikes and ``dL/dx`` (see :func:`stream_outputs`): on the
#: development machine (Xeon, AVX-512, loaded, one thread) they cut the kernels' time by
#: 8-40 % and a whole training step's by 5-20 % at T = 16 and 64 — rough numbers; the
#: benchmark records the setting, and ``SPIKEFORGE_PSN_STREAM=0`` turns them off.
STREAM = True


def supports(x: torch.Tensor, p: PSNParameters) -> str | None:
    """``None`` if the fused CPU kernel runs ``x`` with ``p``, else the reason."""
    reason = input_reason(x)
    if reason is not None:
        return reason
    if x.dim() < 2:
        return "input must be [T, B, ...]"
    T = x.shape[0]
    for name, value, shape in (("weight", p.weight, (T, T)), ("bias", p.bias, (T,))):
        if value is None:
            continue
        if value.device != x.device or value.dtype != x.dtype:
            return (
                f"{name} is {value.dtype} on {value.device}, the input {x.dtype} on "
                f"{x.device} (the kernel needs one dtype and device)"
            )
        if tuple(value.shape) != shape:
            return f"{name} has shape {tuple(value.shape)}, expected {shape}"
    if surrogate_code(p.surrogate) is None:
        return f"surrogate {type(p.surrogate).__name__} has no fused derivative"
    return library_reason()


def _threads() -> int:
    return max(1, torch.get_num_threads())


def block_size(T: int, n: int, itemsize: int) -> int:
    """Columns per work item: three ``[T, block]`` buffers within :data:`BLOCK_BYTES`, at
    most an equal share of ``n`` per thread (``SPIKEFORGE_PSN_BLOCK`` overrides)."""
    env = os.environ.get("SPIKEFORGE_PSN_BLOCK")
    if env:
        return max(1, int(env))
    block = min(MAX_BLOCK, BLOCK_BYTES // (3 * T * itemsize), -(-n // _threads()))
    return max(MIN_BLOCK, block - block % 16)


def stream_outputs() -> int:
    """Whether the spikes and ``dL/dx`` are written with non-temporal stores
    (``SPIKEFORGE_PSN_STREAM`` = 0 / 1; default :data:`STREAM`)."""
    env = os.environ.get("SPIKEFORGE_PSN_STREAM")
    return int(env == "1") if env in ("0", "1") else int(STREAM)


def _fn(name: str, dtype: torch.dtype) -> Any:
    """The C function ``sf_psn_<name>_<f32|f64>`` with its argument types declared."""
    lib = _build.library()
    assert lib is not None  # supports() checked
    fn = getattr(lib, f"sf_psn_{name}_{_DTYPES[dtype]}")
    if fn.argtypes is None:
        p, i64, i32, f64 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_double
        fn.restype = i32
        if name == "forward":  # x, w, bias, s, T, N, block, stream, threads
            fn.argtypes = [p, p, p, p, i64, i64, i64, i32, i32]
        else:  # x, w, bias, gs, gx, gw, gb, lag_lo, lag_hi, T, N, sid, a, b, block, stream,
            # threads
            fn.argtypes = [p, p, p, p, p, p, p, i64, i64, i64, i64, i32, f64, f64, i64, i32, i32]
    return fn


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.detach().contiguous().reshape(x.shape[0], -1)


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    xs = _flat(x)
    T, n = xs.shape
    w = weight.detach().contiguous()
    bc = None if bias is None else bias.detach().contiguous()
    spikes = POOL.empty(xs.shape, xs.dtype)
    if n == 0:
        return spikes.reshape(x.shape)
    rc = _fn("forward", x.dtype)(
        xs.data_ptr(),
        w.data_ptr(),
        _ptr(bc),
        spikes.data_ptr(),
        T,
        n,
        block_size(T, n, xs.element_size()),
        stream_outputs(),
        _threads(),
    )
    if rc != 0:
        raise RuntimeError(f"spikeforge cpu psn forward failed (code {rc})")
    _build.STATE.calls["psn_forward"] = _build.STATE.calls.get("psn_forward", 0) + 1
    return spikes.reshape(x.shape)


def run_backward(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    g_spikes: torch.Tensor,
    sid: int,
    a: float,
    b: float,
    lag_lo: int,
    lag_hi: int,
    want_w: bool,
    want_b: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """The C backward: ``dL/dx`` ``[T, B, ...]``, ``dL/dW`` ``[T, T]`` (0 outside the lags
    ``lag_lo..lag_hi``) and ``dL/db`` ``[T]``, the last two ``None`` unless wanted."""
    xs = _flat(x)
    T, n = xs.shape
    w = weight.detach().contiguous()
    bc = None if bias is None else bias.detach().contiguous()
    gs = g_spikes.contiguous().reshape(T, n)
    gx = POOL.empty(xs.shape, xs.dtype)
    gw = w.new_empty((T, T)) if want_w else None
    gb = w.new_empty((T,)) if want_b else None
    if n == 0:  # no neurons (an empty tensor's data pointer may be NULL): zero gradients
        return (
            gx.reshape(x.shape),
            None if gw is None else gw.zero_(),
            None if gb is None else gb.zero_(),
        )
    rc = _fn("backward", x.dtype)(
        xs.data_ptr(),
        w.data_ptr(),
        _ptr(bc),
        gs.data_ptr(),
        gx.data_ptr(),
        _ptr(gw),
        _ptr(gb),
        lag_lo,
        lag_hi,
        T,
        n,
        sid,
        a,
        b,
        block_size(T, n, xs.element_size()),
        stream_outputs(),
        _threads(),
    )
    if rc != 0:
        raise RuntimeError(f"spikeforge cpu psn backward failed (code {rc})")
    _build.STATE.calls["psn_backward"] = _build.STATE.calls.get("psn_backward", 0) + 1
    return gx.reshape(x.shape), gw, gb


# --- the torch.library custom ops ---------------------------------------------------------


@define_op("spikeforge::psn_forward")
def psn_forward_op(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    sid: int,
    a: float,
    b: float,
    lag_lo: int,
    lag_hi: int,
) -> torch.Tensor:
    """Fused PSN forward: spikes ``Θ(W X + b)`` ``[T, B, ...]`` of ``x`` ``[T, B, ...]``,
    ``weight`` ``[T, T]``, ``bias`` ``[T]`` or ``None`` (one dtype). ``sid, a, b`` code the
    surrogate and ``lag_lo..lag_hi`` the band of ``weight``'s gradient (both for backward)."""
    return _forward(x, weight, bias)


@torch.library.register_fake("spikeforge::psn_forward")
def _(x, weight, bias, sid, a, b, lag_lo, lag_hi):
    return x.new_empty(x.shape)


@define_op("spikeforge::psn_backward")
def psn_backward_op(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    g_spikes: torch.Tensor,
    sid: int,
    a: float,
    b: float,
    lag_lo: int,
    lag_hi: int,
    want_w: bool,
    want_b: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fused PSN backward: ``dL/dx`` ``[T, B, ...]``, ``dL/dW`` ``[T, T]`` and ``dL/db``
    ``[T]`` (an empty ``[0]`` tensor where not wanted: an op returns no ``None``)."""
    gx, gw, gb = run_backward(x, weight, bias, g_spikes, sid, a, b, lag_lo, lag_hi, want_w, want_b)
    empty = x.new_empty(_EMPTY_GRAD)
    return gx, empty if gw is None else gw, empty.clone() if gb is None else gb


@torch.library.register_fake("spikeforge::psn_backward")
def _(x, weight, bias, g_spikes, sid, a, b, lag_lo, lag_hi, want_w, want_b):
    T = x.shape[0]
    gw = weight.new_empty((T, T) if want_w else _EMPTY_GRAD)
    gb = weight.new_empty((T,) if want_b else _EMPTY_GRAD)
    return x.new_empty(x.shape), gw, gb


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    # references to the inputs only: backward recomputes H from them
    x, weight, bias, *cfg = inputs
    ctx.save_for_backward(x, weight, bias)
    ctx.cfg = tuple(cfg)


def _autograd_backward(ctx: Any, g_spikes: Any) -> tuple[Any, ...]:
    x, weight, bias = ctx.saved_tensors
    want_w = bool(ctx.needs_input_grad[1])
    want_b = bias is not None and bool(ctx.needs_input_grad[2])
    gx, gw, gb = psn_backward_op(x, weight, bias, g_spikes, *ctx.cfg, want_w, want_b)
    return (gx, gw if want_w else None, gb if want_b else None) + (None,) * len(ctx.cfg)


torch.library.register_autograd(
    "spikeforge::psn_forward", _autograd_backward, setup_context=_setup_context
)
differentiable_once("spikeforge::psn_backward")


def psn_spikes_cpu(x: torch.Tensor, p: PSNParameters) -> torch.Tensor:
    """Fused ``Θ(W X + b)`` over ``[T, B, ...]`` through ``torch.ops.spikeforge.psn_forward``
    (the ``"psn"`` family's ``"cpu"`` kernel; ``supports`` has accepted ``x`` and ``p``)."""
    code = surrogate_code(p.surrogate)
    assert code is not None  # supports() checked
    T = x.shape[0]
    lag_lo, lag_hi = (-(T - 1), T - 1) if p.grad_band is None else p.grad_band
    return psn_forward_op(x, p.weight, p.bias, code[0], float(code[1]), float(code[2]),
                          int(lag_lo), int(lag_hi))  # fmt: skip
