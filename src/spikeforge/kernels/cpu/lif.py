"""The fused ``"lif"`` kernel for the ``"cpu"`` backend: the C code wrapped as the
``torch.library`` custom ops ``spikeforge::lif_forward`` and ``spikeforge::lif_backward``.

As custom ops (with fake implementations giving shapes and dtypes, and an autograd
formula whose backward is the backward op) the kernel is one opaque node that
``torch.compile(..., fullgraph=True)`` and ``torch.export`` trace without a graph break;
eager results are those of the C code, unchanged.

Saved for backward: nothing new. Autograd keeps references to the layer's own inputs
``x`` and ``v0`` (and tensor parameters); backward recomputes the membrane ``H`` block by
block into a cache-resident buffer and runs the reverse pass from it. So no ``[T, N]``
tensor is allocated for backward, and the forward pass writes only the spikes and the
final membrane. Counted as saved-tensor bytes (``saved_tensors_hooks``), that is the
input: one element per neuron-step (4 B in float32), plus ``v0`` (one per neuron).

Batch norm fused in backward: where ``x`` is a training batch norm's output and a
resolver in :data:`BN_SOURCES` (``compact_activations`` installs one) finds it, the op
saves batch norm's *input* ``c`` instead (batch norm keeps it for its own backward, so
nothing is added) with the per-channel affine ``α, β`` ``[C]``; the C backward rebuilds
``x = fma(c, α, β)`` block by block in cache, so ``x`` is neither kept nor written again.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import torch

from ...functional.lif import LIFParameters, lif_sequence_reference
from .._fused_common import KernelConfig, dynamics_reason, kernel_config
from . import _build
from ._pool import POOL

_DTYPES = {torch.float32: "f32", torch.float64: "f64"}
BLOCK = 32768  # largest block (SPIKEFORGE_CPU_BLOCK overrides every block size)
BWD_CACHE_BYTES = 4 * 1024 * 1024  # per-thread budget for a block's recomputed H (backward)
STREAM_BYTES = 1 << 62  # non-temporal stores: measured slower on the target machine, so opt-in


class BNAffine(NamedTuple):
    """A neuron input ``x`` that is batch norm's training output, bit for bit
    ``fma(input, alpha[ch], beta[ch])`` per channel (see :func:`bn_coefficients`).

    Attributes:
        input: batch norm's input, contiguous, ``x.numel()`` elements.
        alpha, beta: ``[channels]``, ``x``'s dtype.
        channels: the channel count ``C``.
        inner: elements per channel run in memory (``H·W`` for ``[N, C, H, W]``, 1 for
            ``[N, C]``): element ``n`` of a time step lies in channel ``(n // inner) % C``.
    """

    input: torch.Tensor
    alpha: torch.Tensor
    beta: torch.Tensor
    channels: int
    inner: int


# Resolvers installed by spikeforge.layers.memory while compact_activations is active (the
# innermost last): given a fused neuron's input x, its BNAffine (checked bit for bit) or
# None. A list so that this layer never imports the one above it.
BN_SOURCES: list[Callable[[torch.Tensor], BNAffine | None]] = []


def _unresolved(x: torch.Tensor) -> None:
    return None


@contextlib.contextmanager
def no_bn_fusion() -> Iterator[None]:
    """Inside, no fused neuron rebuilds its input from batch norm's (for forwards that a
    checkpoint runs twice: both runs must save the same tensors)."""
    BN_SOURCES.append(_unresolved)
    try:
        yield
    finally:
        BN_SOURCES.remove(_unresolved)


def _bn_source(x: torch.Tensor) -> BNAffine | None:
    # exact type: fake and functional tensors (torch.compile tracing) are never resolved
    if not BN_SOURCES or type(x) is not torch.Tensor or x.dtype not in _DTYPES:
        return None
    return BN_SOURCES[-1](x)


def bn_coefficients(
    mean: torch.Tensor, invstd: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch norm's per-channel training affine ``(α, β)`` ``[C]`` as ATen's CPU kernel
    forms it: ``α = invstd · w``, ``β = fma(-mean, α, b)`` (C code; float32/float64)."""
    lib = _build.library()
    assert lib is not None
    args = [
        t.detach().contiguous() if t is not None else None for t in (mean, invstd, weight, bias)
    ]
    alpha, beta = torch.empty_like(args[1]), torch.empty_like(args[1])
    fn = getattr(lib, f"sf_bn_coefficients_{_DTYPES[invstd.dtype]}")
    fn(*(_ptr(t) for t in args), alpha.data_ptr(), beta.data_ptr(), invstd.numel())
    return alpha, beta


def bn_affine(source: BNAffine) -> torch.Tensor:
    """``fma(input, α[ch], β[ch])`` ``[input.numel()]``: the arithmetic the backward kernel
    uses to rebuild a neuron input from :class:`BNAffine` (for a one-time check against
    batch norm's own output)."""
    lib = _build.library()
    assert lib is not None
    c = source.input.contiguous().reshape(-1)
    out = torch.empty_like(c)
    step = source.channels * source.inner
    fn = getattr(lib, f"sf_bn_affine_{_DTYPES[c.dtype]}")
    fn(c.data_ptr(), source.alpha.data_ptr(), source.beta.data_ptr(), out.data_ptr(),
       c.numel() // step, step, source.channels, source.inner)  # fmt: skip
    return out


def input_reason(x: torch.Tensor) -> str | None:
    """Why the C kernels cannot take ``x`` (device, dtype), or ``None``."""
    if x.device.type != "cpu":
        return f"input is on {x.device}; the cpu kernel needs CPU tensors"
    if x.dtype not in _DTYPES:
        return f"dtype {x.dtype} is not supported (float32 and float64 are)"
    return None


def constant_to_dynamo(fn: Callable[..., Any]) -> Callable[..., Any]:
    """What ``torch.compiler.assume_constant_result`` does (dynamo calls ``fn`` while
    tracing and bakes in its result), without importing ``torch._dynamo`` (and with it
    triton) when spikeforge is imported; a test checks torch still marks functions so."""
    fn._dynamo_marked_constant = True  # type: ignore[attr-defined]
    return fn


# Availability is fixed per process: under torch.compile dynamo calls this once while
# tracing and bakes in the answer, rather than tracing into the loader (its lock, ctypes).
@constant_to_dynamo
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


def run_backward(
    x: torch.Tensor,
    v0: torch.Tensor,
    g_spikes: torch.Tensor | None,
    g_v: torch.Tensor | None,
    k_t: torch.Tensor | None,
    th_t: torch.Tensor | None,
    cfg: KernelConfig,
    want_k: bool,
    want_th: bool,
    affine: tuple[torch.Tensor, torch.Tensor, int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """The C backward: ``(dL/dx [T, B, ...], dL/dv0 [B, ...], dL/dinv_tau, dL/dv_th)``,
    the last two per neuron ``[B, ...]`` (not yet summed to the parameter's shape) and
    ``None`` unless wanted. A missing output gradient counts as zero. With ``affine =
    (α, β, channels, inner)``, ``x`` holds batch norm's input and the neurons' input is
    ``fma(x, α, β)`` per channel (:class:`BNAffine`), rebuilt in cache."""
    steps = x.shape[0]
    xs = x.detach().contiguous().reshape(steps, -1)
    n = xs.shape[1]
    v0c = v0.detach().contiguous().reshape(n)
    gs = torch.zeros_like(xs) if g_spikes is None else g_spikes.contiguous()
    gvt = torch.zeros_like(v0c) if g_v is None else g_v.contiguous().reshape(n)
    k_arr, ks = _param_array(k_t, cfg.k, v0)
    th_arr, ts = _param_array(th_t, cfg.th, v0)
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
        None if affine is None else affine[0].data_ptr(),
        None if affine is None else affine[1].data_ptr(),
        0 if affine is None else affine[2],
        0 if affine is None else affine[3],
        # the rebuilt input is a second [T, block] buffer that must stay in cache too
        _block(n, steps if affine is None else 2 * steps, x.element_size()),
        _stream(xs.numel() * xs.element_size()),
        _threads(),
    )
    if rc != 0:
        raise RuntimeError(f"spikeforge cpu lif backward failed (code {rc})")
    _build.STATE.calls["backward"] += 1
    per_neuron = [None if g is None else g.reshape(v0.shape) for g in (gk, gth)]
    return gx.reshape(x.shape), gv0.reshape(v0.shape), per_neuron[0], per_neuron[1]


# --- the torch.library custom ops (what torch.compile and torch.export see) -------------
# The C functions take raw pointers, which neither dynamo nor export can trace; as custom
# ops they are single opaque graph nodes with a fake implementation (shapes and dtypes
# only) and an autograd formula whose backward is itself an op calling the C backward.
# The KernelConfig travels as its fields, since an op's schema takes no dataclass.
_EMPTY_GRAD = (0,)  # the shape an op returns for a parameter gradient nobody wants


def define_op(qualname: str) -> Callable[[Callable[..., Any]], Any]:
    """Decorator: define the custom op ``qualname`` with the schema of the function's
    annotations and the function as its CPU kernel; gives the op (an ``OpOverload``,
    called like the function).

    Not ``torch.library.custom_op``: that wraps the kernel in ``torch._disable_dynamo``,
    which imports ``torch._dynamo`` (and with it triton) at the kernel's first call —
    seconds in every process that runs a fused neuron, compiled or not. Dynamo never
    traces into an op's kernel anyway; the schema, fake and autograd registrations are
    the same ``torch.library`` ones."""

    def decorator(fn: Callable[..., Any]) -> Any:
        torch.library.define(qualname, torch.library.infer_schema(fn, mutates_args=()))
        torch.library.impl(qualname, "cpu", fn)
        namespace, name = qualname.split("::")
        return getattr(getattr(torch.ops, namespace), name).default

    return decorator


def differentiable_once(qualname: str) -> None:
    """Give the backward op ``qualname`` an autograd formula that refuses: the C kernels
    have no second derivative, and an op without any formula would only warn and let a
    double backward (``create_graph=True``) return wrong gradients."""

    def refuse(ctx: Any, *grads: Any) -> tuple[Any, ...]:
        raise RuntimeError(
            f"{qualname} is differentiable once: the fused CPU kernels have no second "
            "derivative (use backend='torch' for a double backward)"
        )

    torch.library.register_autograd(qualname, refuse)


def cfg_args(cfg: KernelConfig) -> tuple[int, int, bool, int, float, float, float, float, float]:
    """``cfg`` as the ops' scalar arguments, in :class:`KernelConfig`'s field order."""
    return (
        cfg.charge, cfg.reset, cfg.detach, cfg.sid, cfg.a, cfg.b, cfg.v_reset, cfg.k, cfg.th
    )  # fmt: skip


@define_op("spikeforge::lif_forward")
def lif_forward_op(
    x: torch.Tensor,
    v0: torch.Tensor,
    k_t: torch.Tensor | None,
    th_t: torch.Tensor | None,
    charge: int,
    reset: int,
    detach: bool,
    sid: int,
    a: float,
    b: float,
    v_reset: float,
    k: float,
    th: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused LIF forward: unscaled spikes ``[T, B, ...]`` and the final membrane
    ``[B, ...]`` (``x``, ``v0`` of one dtype; ``k_t``/``th_t`` broadcast to ``[B, ...]``)."""
    cfg = KernelConfig(charge, reset, detach, sid, a, b, v_reset, k, th)
    return _forward(x, v0, k_t, th_t, cfg)


@torch.library.register_fake("spikeforge::lif_forward")
def _(x, v0, k_t, th_t, charge, reset, detach, sid, a, b, v_reset, k, th):
    return x.new_empty(x.shape), v0.new_empty(v0.shape)


@define_op("spikeforge::lif_backward")
def lif_backward_op(
    x: torch.Tensor,
    v0: torch.Tensor,
    g_spikes: torch.Tensor | None,
    g_v: torch.Tensor | None,
    k_t: torch.Tensor | None,
    th_t: torch.Tensor | None,
    charge: int,
    reset: int,
    detach: bool,
    sid: int,
    a: float,
    b: float,
    v_reset: float,
    k: float,
    th: float,
    want_k: bool,
    want_th: bool,
    alpha: torch.Tensor | None = None,
    beta: torch.Tensor | None = None,
    channels: int = 0,
    inner: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fused LIF backward: ``dL/dx``, ``dL/dv0`` and the per-neuron ``[B, ...]`` gradients
    of ``inv_tau`` and ``v_th`` (an empty ``[0]`` tensor where not wanted: an op returns
    no ``None``). With ``alpha``/``beta`` ``[channels]``, ``x`` is batch norm's input and
    the neurons' input was ``fma(x, alpha, beta)`` per channel (:class:`BNAffine`)."""
    cfg = KernelConfig(charge, reset, detach, sid, a, b, v_reset, k, th)
    affine = None
    if alpha is not None and beta is not None:
        affine = (alpha.contiguous(), beta.contiguous(), channels, inner)
    gx, gv0, gk, gth = run_backward(x, v0, g_spikes, g_v, k_t, th_t, cfg, want_k, want_th, affine)
    empty = x.new_empty(_EMPTY_GRAD)
    return gx, gv0, empty if gk is None else gk, empty.clone() if gth is None else gth


@torch.library.register_fake("spikeforge::lif_backward")
def _(x, v0, g_spikes, g_v, k_t, th_t, charge, reset, detach, sid, a, b, v_reset, k, th,
      want_k, want_th, alpha=None, beta=None, channels=0, inner=0):  # fmt: skip
    grads = [v0.new_empty(v0.shape if want else _EMPTY_GRAD) for want in (want_k, want_th)]
    return x.new_empty(x.shape), v0.new_empty(v0.shape), *grads


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    # only references to the inputs: the C backward recomputes the membrane from them
    x, v0, k_t, th_t, *cfg = inputs
    ctx.set_materialize_grads(False)  # an unused output's gradient stays None
    source = _bn_source(x)
    if source is None:
        ctx.save_for_backward(x, v0, k_t, th_t)
    else:
        # α and β are saved too, so that the backward reads the form from what was saved:
        # a checkpoint that re-runs this forward without the resolver saves four tensors
        # where six were saved, and stops with an error instead of mixing the forms
        inp, alpha, beta, *geometry = source
        ctx.save_for_backward(inp.view(x.shape), v0, k_t, th_t, alpha, beta)
        ctx.geometry = tuple(geometry)
    ctx.cfg = tuple(cfg)


def _autograd_backward(ctx: Any, g_spikes: Any, g_v: Any) -> tuple[Any, ...]:
    saved = ctx.saved_tensors
    x, v0, k_t, th_t = saved[:4]
    charge = ctx.cfg[0]
    want_k = k_t is not None and ctx.needs_input_grad[2] and charge != 0  # IF has no τ
    want_th = th_t is not None and ctx.needs_input_grad[3]
    affine = () if len(saved) == 4 else (*saved[4:], *ctx.geometry)
    gx, gv0, gk, gth = lif_backward_op(
        x, v0, g_spikes, g_v, k_t, th_t, *ctx.cfg, want_k, want_th, *affine
    )
    gk_out = gk.sum_to_size(k_t.shape) if want_k else None
    gth_out = gth.sum_to_size(th_t.shape) if want_th else None
    return (gx, gv0, gk_out, gth_out) + (None,) * len(ctx.cfg)


torch.library.register_autograd(
    "spikeforge::lif_forward", _autograd_backward, setup_context=_setup_context
)
differentiable_once("spikeforge::lif_backward")


def lif_sequence_cpu(
    x: torch.Tensor, v0: torch.Tensor, p: LIFParameters
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused IF/LIF/PLIF over ``[T, B, ...]`` through ``torch.ops.spikeforge.lif_forward``:
    unscaled spikes ``[T, B, ...]`` and the final membrane ``[B, ...]``."""
    if v0.dtype != x.dtype or v0.device != x.device or v0.shape != x.shape[1:]:
        return lif_sequence_reference(x, v0, p)  # type promotion / broadcasting: reference
    cfg, k_t, th_t = kernel_config(p)
    return lif_forward_op(x, v0, k_t, th_t, *cfg_args(cfg))
