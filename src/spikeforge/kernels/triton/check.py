"""First-use self-check of the compiled Triton kernels (``"lif"``, ``"alif"``, ``"leaky"``)
against the torch reference.

The kernels are checked on every test run in Triton's interpreter and compiled for sm_90
there, but a real GPU run can still differ (another Triton or driver version, an
instruction's rounding). So the first time a process runs one dynamics configuration
(charge, reset, ``detach_reset``, surrogate, which parameters are tensors, dtype) on one
CUDA device, :func:`self_check_reason` runs the kernel and the plain-torch reference on a
small seeded input on that device, forward and backward. The kernel is used only if the
spikes agree exactly and the final membrane and every gradient agree within the dtype's
tolerance; otherwise the disagreement is the kernel's reason not to run: ``auto`` falls
back to the reference (with one warning per configuration) and ``backend="triton"``
raises it. Cost: one small forward + backward of each, per configuration and process,
after the compile that the first call pays anyway. The check draws from its own
generator (the global RNG is untouched) and its launches are not counted in ``CALLS``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from types import ModuleType

import torch

from ...functional.alif import ALIFParameters, alif_sequence_reference
from ...functional.leaky import LeakyParameters, leaky_scan_reference
from ...functional.lif import LIFParameters, lif_sequence_reference
from .._fused_common import kernel_config

CHECK_DEVICE_TYPES = {"cuda"}  # tests add "cpu" to run the check in the interpreter
SHAPE = (5, 3, 67)  # [T, B, N]: N is no multiple of any block size
# atol covers float32 rounding of gradients summed over steps and the GPU's fast exp
TOLERANCE = {
    torch.float64: {"rtol": 1e-9, "atol": 1e-9},
    torch.float32: {"rtol": 1e-5, "atol": 1e-4},
    torch.float16: {"rtol": 2**-10, "atol": 1e-3},
    torch.bfloat16: {"rtol": 2**-7, "atol": 1e-2},
}
_RESULTS: dict[tuple[object, ...], str | None] = {}
# Each family's kernel module (its ``*_triton`` function and ``CALLS``), registered by the
# module itself when it is imported: this module imports none of them (the kernels' own
# ``supports`` calls the check, so the dependency runs one way), and the function is
# looked up when the check runs (tests substitute it).
_KERNELS: dict[str, ModuleType] = {}


def register_family(family: str, module: ModuleType) -> None:
    """Make ``module`` the kernel module the ``family`` check runs."""
    _KERNELS[family] = module


def _checking(device: torch.device) -> contextlib.ExitStack:
    """Autograd on and autocast off for the check, whatever the caller's context (a first
    call under ``torch.inference_mode()`` or ``no_grad`` must not fail the check)."""
    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode(False))
    stack.enter_context(torch.enable_grad())
    stack.enter_context(torch.autocast(device.type, enabled=False))
    return stack


def _kind(t: object) -> bool | None:
    """``None`` for a float, else whether the tensor holds one value per neuron."""
    return t.numel() > 1 if isinstance(t, torch.Tensor) else None


def _key(x: torch.Tensor, p: LIFParameters) -> tuple[object, ...]:
    """What selects the compiled variant and its constants, read straight off ``p``
    (this runs on every call: it must cost little next to a kernel launch). The float
    values of ``inv_tau`` and ``v_th`` only feed constants, so they are left out."""
    charge_form = (p.charge, p.charge == "if" or bool(p.decay_input))
    modes = (p.reset, bool(p.detach_reset), float(p.v_reset))
    return (
        "lif",
        charge_form,
        modes,
        p.surrogate,
        _kind(p.inv_tau),
        _kind(p.v_th),
        x.dtype,
        x.device,
    )


def _leaky_key(x: torch.Tensor, p: LeakyParameters) -> tuple[object, ...]:
    return "leaky", p.form, _kind(p.coef), x.dtype, x.device


def self_check_reason(
    x: torch.Tensor, p: LIFParameters | LeakyParameters | ALIFParameters, family: str = "lif"
) -> str | None:
    """``None`` if the ``family`` kernel agreed with the reference on ``x``'s device for
    ``p``'s configuration (checked once per process), else what disagreed."""
    if x.device.type not in CHECK_DEVICE_TYPES:
        return None
    key_of, run = _FAMILIES[family]()
    key = key_of(x, p)
    if key not in _RESULTS:
        reason = run(x.device, x.dtype, p)
        _RESULTS[key] = reason
        if reason is not None:
            warnings.warn(
                f"spikeforge: the compiled triton {family} kernel is not used for this "
                f"configuration on {x.device}: {reason}",
                RuntimeWarning,
                stacklevel=2,
            )
    return _RESULTS[key]


def _check_parameters(p: LIFParameters, n: int, gen: torch.Generator) -> LIFParameters:
    """``p`` with seeded stand-ins for its tensor parameters (same kind: one value or one
    per neuron), float64 on the CPU; ``spike_scale`` is applied outside the kernels."""
    _, k_t, th_t = kernel_config(p)

    def stand_in(t: torch.Tensor | None, low: float, value: float | torch.Tensor):
        if t is None:  # a float, or a tensor inv_tau that IF ignores
            return 0.5 if isinstance(value, torch.Tensor) else value
        size = (n,) if t.numel() > 1 else ()
        return low + 0.4 * torch.rand(size, generator=gen, dtype=torch.float64)

    return dataclasses.replace(
        p,
        inv_tau=stand_in(k_t, 0.3, p.inv_tau),
        v_th=stand_in(th_t, 0.8, p.v_th),
        spike_scale=None,
    )


def _on(
    p: LIFParameters, device: torch.device, dtype: torch.dtype, run_dtype: torch.dtype
) -> tuple[LIFParameters, dict[str, torch.Tensor]]:
    """Leaf copies of ``p``'s tensors, rounded to ``dtype``, on ``device`` in
    ``run_dtype`` (to differentiate), by name."""
    leaves = {}
    for name in ("inv_tau", "v_th"):
        value = getattr(p, name)
        if isinstance(value, torch.Tensor):
            leaves[name] = value.to(dtype).to(device, run_dtype).requires_grad_(True)
    return dataclasses.replace(p, **leaves), leaves


def _run(device: torch.device, dtype: torch.dtype, p: LIFParameters) -> str | None:
    tlif = _KERNELS["lif"]
    gen = torch.Generator().manual_seed(20261123)
    _, batch, n = SHAPE
    x = torch.randn(SHAPE, generator=gen, dtype=torch.float64) * 1.2 + 0.4
    v0 = torch.randn(batch, n, generator=gen, dtype=torch.float64) * 0.3
    gs = torch.randn(SHAPE, generator=gen, dtype=torch.float64)
    gv = torch.randn(batch, n, generator=gen, dtype=torch.float64)
    base = _check_parameters(p, n, gen)
    # half precision runs in float32 registers: the reference is float32 on the same
    # rounded values (as in the tests)
    ref_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    results = []
    calls = dict(tlif.CALLS)
    try:
        with _checking(device):
            for run_dtype, kernel in (
                (dtype, tlif.lif_sequence_triton),
                (ref_dtype, lif_sequence_reference),
            ):
                xs, v0s = (t.to(dtype).to(device, run_dtype).requires_grad_() for t in (x, v0))
                params, leaves = _on(base, device, dtype, run_dtype)
                spikes, v = kernel(xs, v0s, params)
                seeds = (gs.to(device, run_dtype), gv.to(device, run_dtype))
                loss = (spikes * seeds[0]).sum() + (v * seeds[1]).sum()
                wrt = {"dL/dx": xs, "dL/dv0": v0s, **{f"dL/d{k}": t for k, t in leaves.items()}}
                grads = torch.autograd.grad(loss, list(wrt.values()), allow_unused=True)
                named = {"final membrane": v.detach(), **dict(zip(wrt, grads, strict=True))}
                results.append((spikes.detach(), named))
    except Exception as error:  # a kernel that fails to run is also not used
        return f"the self-check run failed: {type(error).__name__}: {error}"
    finally:
        tlif.CALLS.update(calls)
    return _compare(results[0], results[1], dtype)


Result = tuple[torch.Tensor | None, dict[str, torch.Tensor | None]]


def _compare(got: Result, want: Result, dtype: torch.dtype) -> str | None:
    """Spikes (if any) exactly; every other output and gradient within
    :data:`TOLERANCE`, the reference rounded to ``dtype`` first."""
    tol = TOLERANCE[dtype]
    if got[0] is not None and want[0] is not None:
        spikes = got[0].to(want[0].dtype)
        if not torch.equal(spikes, want[0]):
            flips = int((spikes != want[0]).sum())
            return f"self-check: {flips} spike(s) differ from the torch reference"
    for name, a in got[1].items():
        b = want[1][name]
        if (a is None) != (b is None):
            return f"self-check: {name} is missing on one side"
        if a is None:
            continue
        a, b = a.to(torch.float64), b.to(dtype).to(torch.float64)
        if not torch.allclose(a, b, **tol):
            worst = float((a - b).abs().max())
            return f"self-check: {name} differs from the torch reference (max |diff| {worst:.3g})"
    return None


def _run_leaky(device: torch.device, dtype: torch.dtype, p: LeakyParameters) -> str | None:
    """The ``"leaky"`` kernel against the reference: the trajectory, the final state and
    every gradient within tolerance (there are no spikes to compare exactly)."""
    tleaky = _KERNELS["leaky"]
    gen = torch.Generator().manual_seed(20261124)
    _, batch, n = SHAPE
    x = torch.randn(SHAPE, generator=gen, dtype=torch.float64)
    y0 = torch.randn(batch, n, generator=gen, dtype=torch.float64) * 0.5
    gy = torch.randn(SHAPE, generator=gen, dtype=torch.float64)
    gl = torch.randn(batch, n, generator=gen, dtype=torch.float64)
    coef: float | torch.Tensor = p.coef
    if isinstance(p.coef, torch.Tensor):
        size = (n,) if p.coef.numel() > 1 else ()
        coef = 0.2 + 0.6 * torch.rand(size, generator=gen, dtype=torch.float64)
    ref_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    results = []
    calls = dict(tleaky.CALLS)
    try:
        with _checking(device):
            for run_dtype, kernel in (
                (dtype, tleaky.leaky_scan_triton),
                (ref_dtype, leaky_scan_reference),
            ):
                xs, y0s = (t.to(dtype).to(device, run_dtype).requires_grad_() for t in (x, y0))
                wrt = {"dL/dx": xs, "dL/dy0": y0s}
                c = coef
                if isinstance(coef, torch.Tensor):
                    c = coef.to(dtype).to(device, run_dtype).requires_grad_(True)
                    wrt["dL/dcoef"] = c
                y, last = kernel(xs, y0s, LeakyParameters(p.form, c, p.rest))
                loss = (y * gy.to(device, run_dtype)).sum() + (
                    last * gl.to(device, run_dtype)
                ).sum()
                grads = torch.autograd.grad(loss, list(wrt.values()), allow_unused=True)
                named = {"trajectory": y.detach(), "final state": last.detach()}
                named |= dict(zip(wrt, grads, strict=True))
                results.append((None, named))
    except Exception as error:  # a kernel that fails to run is also not used
        return f"the self-check run failed: {type(error).__name__}: {error}"
    finally:
        tleaky.CALLS.update(calls)
    return _compare(results[0], results[1], dtype)


def _alif_key(x: torch.Tensor, p: ALIFParameters) -> tuple[object, ...]:
    return ("alif", _key(x, p.lif)[1:], _kind(p.b))


def _run_alif(device: torch.device, dtype: torch.dtype, p: ALIFParameters) -> str | None:
    """The ``"alif"`` kernel against the reference: spikes exactly, the final membrane
    and adaptation and every gradient within tolerance."""
    talif = _KERNELS["alif"]
    gen = torch.Generator().manual_seed(20261125)
    _, batch, n = SHAPE
    x = torch.randn(SHAPE, generator=gen, dtype=torch.float64) * 1.2 + 0.5
    v0 = torch.randn(batch, n, generator=gen, dtype=torch.float64) * 0.3
    a0 = torch.rand(batch, n, generator=gen, dtype=torch.float64)
    seeds = [torch.randn(t.shape, generator=gen, dtype=torch.float64) for t in (x, v0, a0)]
    lif = _check_parameters(p.lif, n, gen)
    b: float | torch.Tensor = p.b
    if isinstance(p.b, torch.Tensor):
        b = 0.1 + 0.3 * torch.rand(
            (n,) if p.b.numel() > 1 else (), generator=gen, dtype=torch.float64
        )
    ref_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    results = []
    calls = dict(talif.CALLS)
    try:
        with _checking(device):
            for run_dtype, kernel in (
                (dtype, talif.alif_sequence_triton),
                (ref_dtype, alif_sequence_reference),
            ):
                xs, v0s, a0s = (
                    t.to(dtype).to(device, run_dtype).requires_grad_() for t in (x, v0, a0)
                )
                params, leaves = _on(lif, device, dtype, run_dtype)
                bb = b
                if isinstance(b, torch.Tensor):
                    bb = b.to(dtype).to(device, run_dtype).requires_grad_(True)
                    leaves["b"] = bb
                spikes, v, a = kernel(xs, v0s, a0s, ALIFParameters(params, bb, p.rho))
                ss = [t.to(device, run_dtype) for t in seeds]
                loss = (spikes * ss[0]).sum() + (v * ss[1]).sum() + (a * ss[2]).sum()
                wrt = {"dL/dx": xs, "dL/dv0": v0s, "dL/da0": a0s}
                wrt |= {f"dL/d{k}": t for k, t in leaves.items()}
                grads = torch.autograd.grad(loss, list(wrt.values()), allow_unused=True)
                named = {"final membrane": v.detach(), "final adaptation": a.detach()}
                named |= dict(zip(wrt, grads, strict=True))
                results.append((spikes.detach(), named))
    except Exception as error:  # a kernel that fails to run is also not used
        return f"the self-check run failed: {type(error).__name__}: {error}"
    finally:
        talif.CALLS.update(calls)
    return _compare(results[0], results[1], dtype)


# (key, run) per family, looked up when called (so tests can substitute either)
_FAMILIES = {
    "lif": lambda: (_key, _run),
    "leaky": lambda: (_leaky_key, _run_leaky),
    "alif": lambda: (_alif_key, _run_alif),
}
