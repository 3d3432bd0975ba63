"""The fused ``"lif"`` kernel for the ``"triton"`` backend: autograd wrapper and launches.

Semantics mirror the ``"cpu"`` kernel (:mod:`spikeforge.kernels.cpu.lif`) and the torch
reference: IF / LIF (both charge forms) / PLIF, resets ``zero`` / ``subtract`` /
``none``, ``detach_reset``, the six built-in surrogates, ``inv_tau`` and ``v_th`` as
floats, one-element tensors or per-neuron tensors broadcasting to the step shape
``[B, ...]`` (their gradients are reduced back to the parameter's shape). ``spike_scale``
is applied by :func:`~spikeforge.functional.lif.lif_sequence` outside every kernel, so
autograd differentiates it there.

Precision: float16 / bfloat16 / float32 inputs are computed in float32 registers and
float64 in float64; outputs are rounded to the input dtype once. For float32 and float64
the spikes are bit-identical to the reference (the kernels repeat its operation order
and are compiled with ``enable_fp_fusion=False``: a fused multiply-add would round
differently); for float16 / bfloat16 they equal the reference run on the same values in
float32, which rounds every intermediate only once. Gradients agree to float32 rounding
(on a GPU ``tl.exp``, used by the sigmoid surrogate, is the fast ``ex2.approx`` form).

Memory (forward): reads ``x``, writes the spikes and the final membrane, nothing else.
Saved for backward: nothing new. Autograd keeps references to the layer's own input ``x``
and ``v0`` (and tensor parameters), which ``saved_tensors_hooks`` counts as one input
element per neuron-step (2 B in float16 / bfloat16, 4 B in float32, 8 B in float64) and
one per neuron. Backward is one launch: each program first recomputes ``H`` of its
neurons into its rows of a scratch ``[T, N]`` compute-dtype buffer (4 B per neuron-step,
8 B in float64; freed when backward returns), then runs the reverse pass over T that
reads those rows back, with ``dL/dS``, and writes ``dL/dx`` (it reads ``x`` a second time
only for ``dL/d inv_tau`` of the ``decay_input`` charge). Saving ``H`` in forward instead
would keep a 4 B per neuron-step tensor alive from forward to backward for every layer
(the activation memory that bounds T and batch size).

Bytes per neuron-step in float32, forward + backward: read ``x``, write ``S`` (8), then
read ``x``, ``dL/dS``, write ``dL/dx`` (12), plus the scratch's write and read (8), which
stay in the GPU's L2 when the layer is small enough and reach memory otherwise: 20 to
28 B. SpikingJelly 2.0's fused LIF saves ``H`` in forward instead: 12 + 12 = 24 B. So a
memory-bound layer cannot run much more than 1.2x faster than it; on small layers launch
overheads decide.

Triton is imported lazily: ``supports`` only asks whether it is installed, and the
``@triton.jit`` kernels are built on first use by :func:`_kernels`, once per
``TRITON_INTERPRET`` mode, because that environment variable is read by ``triton.jit``
when it decorates. ``TRITON_INTERPRET=1`` also makes ``supports`` accept CPU tensors
(the kernels then run in Triton's numpy interpreter, which is how the tests run them).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import itertools
import math
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from ...functional.lif import LIFParameters
from .._fused_common import KernelConfig, dynamics_reason, fused_lif, lif_autograd
from .check import register_family, self_check_reason

_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
BLOCK = 1024  # neurons per program (SPIKEFORGE_TRITON_BLOCK overrides; a power of two)
MIN_BLOCK = 128  # smallest automatic block: one warp, four neurons per thread
PROGRAMS_PER_SM = 4  # below this many programs per multiprocessor the block shrinks
CALLS = {"forward": 0, "backward": 0}  # kernel launches, so tests can see this path ran


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _interpreting() -> bool:
    """``TRITON_INTERPRET=1``: Triton runs kernels in its interpreter (read per call)."""
    return os.environ.get("TRITON_INTERPRET") == "1"


@functools.lru_cache(maxsize=1)
def _triton_found() -> bool:
    return importlib.util.find_spec("triton") is not None


def _triton_installed() -> bool:
    """Whether ``import triton`` can work, without importing it (that takes ~0.3 s, which
    ``backend="auto"`` on CPU tensors should not pay)."""
    if "triton" in sys.modules:
        return sys.modules["triton"] is not None  # None: import deliberately blocked
    return _triton_found()


@functools.cache
def interpreter_reason() -> str | None:
    """Why Triton's interpreter cannot run these kernels in this environment, else ``None``.

    Before Triton 3.7 the interpreter wraps a scalar argument (the step count ``T``) in a
    one-element array and takes ``int()`` of it for ``range(T)``; numpy 2.4 and later
    refuse that conversion. Probed, not guessed from numpy's version.
    """
    import numpy as np
    import triton

    try:
        with warnings.catch_warnings():  # numpy 1.25-2.3 only warn (a deprecation)
            warnings.simplefilter("ignore", DeprecationWarning)
            int(np.ones(1, dtype=np.int64))  # type: ignore[arg-type]
    except TypeError:
        if _version_tuple(triton.__version__) < (3, 7):
            return (
                f"Triton {triton.__version__}'s interpreter cannot run the triton kernels with "
                f"numpy {np.__version__} (it calls int() on a one-element array; fixed in "
                "Triton 3.7): upgrade triton, or run them on a CUDA GPU"
            )
    return None


def _version_tuple(version: str) -> tuple[int, ...]:
    """``"3.6.0+git1"`` -> ``(3, 6, 0)``: the leading numeric fields."""
    fields = []
    for part in version.split("+")[0].split("."):
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        fields.append(int(digits))
    return tuple(fields)


def device_reason(x: torch.Tensor) -> str | None:
    """Why no Triton kernel can take ``x`` here (triton, device, interpreter, dtype)."""
    if not _triton_installed():
        return "triton is not installed"
    if x.device.type != "cuda":
        if not _interpreting():
            return f"input is on {x.device.type}, the triton kernel needs a CUDA tensor"
        reason = interpreter_reason()
        if reason is not None:
            return reason
    if x.dtype not in _DTYPES:
        return f"dtype {x.dtype} is not supported (float16, bfloat16, float32 and float64 are)"
    return None


def supports(x: torch.Tensor, p: LIFParameters) -> str | None:
    """``None`` if the Triton kernel handles ``x`` with ``p``, else the reason."""
    reason = device_reason(x) or dynamics_reason(x, p)
    if reason is not None:
        return reason
    return self_check_reason(x, p)  # CUDA tensors: the first use is checked


@functools.cache
def load_source(file_name: str, interpret: bool) -> ModuleType:
    """Execute the kernel source ``file_name`` (beside this module) as a fresh module:
    its ``@triton.jit`` decorators run now, under the current ``TRITON_INTERPRET``, and
    make compiled or interpreted kernels (one module per file and mode)."""
    mode = "interpreted" if interpret else "compiled"
    name = f"{__package__}.{Path(file_name).stem}_{mode}"
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(file_name))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build(interpret: bool) -> ModuleType:
    """The neuron kernels of ``_kernels.py`` (:func:`load_source`)."""
    return load_source("_kernels.py", interpret)


def _kernels() -> ModuleType:
    """The kernels for the interpreter mode triton itself will use right now."""
    import triton  # absolute: the real package, not this subpackage

    return _build(bool(triton.knobs.runtime.interpret))


@functools.cache
def _multiprocessors(index: int) -> int:
    return int(torch.cuda.get_device_properties(index).multi_processor_count)


def _block(n: int, device: torch.device) -> int:
    """Neurons per program: ``BLOCK``, halved (down to ``MIN_BLOCK``) while a CUDA device
    would get fewer than ``PROGRAMS_PER_SM`` programs per multiprocessor; each program
    walks T serially, so a small layer needs many small programs to fill the GPU."""
    env = os.environ.get("SPIKEFORGE_TRITON_BLOCK")
    if env:
        block = int(env)
        if block < 1 or block & (block - 1):
            raise ValueError(f"SPIKEFORGE_TRITON_BLOCK must be a power of two, got {block}")
        return block
    block = BLOCK
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        wanted = PROGRAMS_PER_SM * _multiprocessors(index)
        while block > MIN_BLOCK and -(-n // block) < wanted:
            block //= 2
    return block


def _launch_options(block: int) -> dict[str, Any]:
    # One warp per 256 neurons (8 per thread), 1 to 8 warps. No fp contraction: an FMA
    # in the charge would round differently from the reference and flip spikes at V_th.
    return {"num_warps": max(1, min(8, block // 256)), "enable_fp_fusion": False}


def lif_constant_values(cfg: KernelConfig) -> list[float]:
    """``[v_reset, a, b, c0, c1, inv_tau, v_th]``: the surrogate's derived constants
    ``c0``, ``c1`` (see ``_kernels._surrogate_grad``) computed in float64."""
    c0 = c1 = 0.0
    if cfg.sid == 0:
        c0 = 0.5 * math.pi * cfg.a
    elif cfg.sid == 4:
        c1 = 0.5 / cfg.a
    elif cfg.sid == 5:
        c0, c1 = 0.5 * cfg.a, 1.0 / cfg.a
    return [cfg.v_reset, cfg.a, cfg.b, c0, c1, cfg.k, cfg.th]


@functools.lru_cache(maxsize=64)
def _constants(cfg: KernelConfig, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """:func:`lif_constant_values` in the compute dtype, rounded once (as the C kernel
    does); cached so a step costs no host-to-device copy."""
    values = lif_constant_values(cfg)
    return torch.tensor(values, dtype=torch.float64).to(device=device, dtype=dtype)


def _param_array(
    value: torch.Tensor | None, consts: torch.Tensor, slot: int, v0: torch.Tensor
) -> tuple[torch.Tensor, bool]:
    """``(array, per_neuron)``: the float's slot of ``consts``, a one-element tensor, or
    one value per neuron ``[N]``."""
    if value is None:
        return consts[slot:], False
    value = value.detach()
    if value.numel() == 1:
        return value.reshape(1).contiguous(), False
    return value.expand(v0.shape).contiguous().reshape(-1), True


def _flat(
    x: torch.Tensor,
    v0: torch.Tensor,
    k_t: torch.Tensor | None,
    th_t: torch.Tensor | None,
    cfg: KernelConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, bool], Any]:
    """``x`` as ``[T, N]``, ``v0`` as ``[N]``, the constants and both parameter arrays."""
    xs = x.detach().contiguous().reshape(x.shape[0], -1)
    v0c = v0.detach().contiguous().reshape(-1)
    consts = _constants(cfg, _compute_dtype(x.dtype), x.device)
    return xs, v0c, consts, _param_array(k_t, consts, 5, v0), _param_array(th_t, consts, 6, v0)


def _grid(n: int, block: int) -> tuple[int]:
    return (-(-n // block),)


def _on(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Triton launches on the current CUDA device: make it the tensors' device."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def _forward(
    x: torch.Tensor,
    v0: torch.Tensor,
    k_t: torch.Tensor | None,
    th_t: torch.Tensor | None,
    cfg: KernelConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unscaled spikes ``[T, B, ...]`` and the final membrane ``[B, ...]``."""
    xs, v0c, consts, (k_arr, k_vec), (th_arr, th_vec) = _flat(x, v0, k_t, th_t, cfg)
    steps, n = xs.shape
    spikes = torch.empty_like(xs)
    v = torch.empty_like(v0c)
    if n > 0:  # a zero-size grid is not a valid launch
        block = _block(n, x.device)
        with _on(x.device):
            _kernels().lif_forward[_grid(n, block)](
                xs, v0c, k_arr, th_arr, consts, spikes, v, steps, n,
                CHARGE=cfg.charge, RESET=cfg.reset, K_VEC=k_vec, TH_VEC=th_vec,
                BLOCK=block, **_launch_options(block),
            )  # fmt: skip
    CALLS["forward"] += 1
    return spikes.reshape(x.shape), v.reshape(v0.shape)


def _backward(ctx: Any, g_spikes: torch.Tensor | None, g_v: torch.Tensor | None) -> tuple[Any, ...]:
    """Gradients of ``(x, v0, k_t, th_t, cfg)`` (see :func:`.._fused_common.lif_autograd`)."""
    x, v0, k_t, th_t = ctx.saved_tensors
    cfg: KernelConfig = ctx.cfg
    xs, v0c, consts, (k_arr, k_vec), (th_arr, th_vec) = _flat(x, v0, k_t, th_t, cfg)
    steps, n = xs.shape
    cdt = consts.dtype
    want_k = k_t is not None and ctx.needs_input_grad[2] and cfg.charge != 0
    want_th = th_t is not None and ctx.needs_input_grad[3]
    gx = torch.empty_like(xs)
    gv0 = torch.empty_like(v0c)
    # per-neuron parameter gradients stay in the compute dtype until reduced
    gk = torch.empty(n, dtype=cdt, device=x.device) if want_k else None
    gth = torch.empty(n, dtype=cdt, device=x.device) if want_th else None
    if n > 0:
        block = _block(n, x.device)
        grid = _grid(n, block)
        opts = _launch_options(block)
        kernels = _kernels()
        h = torch.empty((steps, n), dtype=cdt, device=x.device)  # scratch, see module doc
        v_unused = torch.empty(n, dtype=cdt, device=x.device)
        # absent gradients are skipped in the kernel (HAS_GS / HAS_GV / WANT_*), not
        # zero-filled; their pointers are bound to a tensor of the same dtype that is
        # never read, so the compiled variants do not multiply
        gs = xs if g_spikes is None else g_spikes.contiguous()
        gvt = v0c if g_v is None else g_v.contiguous().reshape(n)
        with _on(x.device):
            kernels.lif_backward[grid](
                xs, v0c, h, gs, gvt, k_arr, th_arr, consts, gx, gv0,
                v_unused if gk is None else gk, v_unused if gth is None else gth,
                steps, n,
                CHARGE=cfg.charge, RESET=cfg.reset, DETACH=cfg.detach, SID=cfg.sid,
                K_VEC=k_vec, TH_VEC=th_vec, HAS_GS=g_spikes is not None,
                HAS_GV=g_v is not None, WANT_K=want_k, WANT_TH=want_th,
                BLOCK=block, **opts,
            )  # fmt: skip
    elif g_v is not None:
        gv0.copy_(g_v.reshape(n))
    else:
        gv0.zero_()
    CALLS["backward"] += 1
    gk_out = None if gk is None else _reduce(gk, v0, k_t)
    gth_out = None if gth is None else _reduce(gth, v0, th_t)
    return gx.reshape(x.shape), gv0.reshape(v0.shape), gk_out, gth_out, None


_LIFFunction = lif_autograd(_forward, _backward)


def _reduce(per_neuron: torch.Tensor, v0: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """A per-neuron gradient ``[N]`` summed to the parameter's shape, in its dtype."""
    return per_neuron.reshape(v0.shape).sum_to_size(param.shape).to(param.dtype)


def lif_sequence_triton(
    x: torch.Tensor, v0: torch.Tensor, p: LIFParameters
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused IF/LIF/PLIF over ``x`` ``[T, B, ...]`` from ``v0`` ``[B, ...]``.

    Returns unscaled spikes ``[T, B, ...]`` (0/1 in ``x``'s dtype) and the final membrane
    ``[B, ...]``; differentiable w.r.t. ``x``, ``v0`` and tensor ``inv_tau`` / ``v_th``.
    """
    return fused_lif(x, v0, p, _LIFFunction, _forward)


register_family("lif", sys.modules[__name__])  # the self-check runs this module's kernel
