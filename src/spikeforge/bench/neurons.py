"""Side-by-side LIF layer benchmark: spikeforge (reference and fused) against peers.

Every implementation runs the same dynamics where the library allows it: τ = 2
(1/τ = 0.5), V_th = 1, hard reset to 0, arctan surrogate (α = 2), on the same input.

- ``spikeforge torch``: the plain-torch reference (``backend="torch"``).
- ``spikeforge cpu``: the fused C kernel (``backend="cpu"``); on CUDA
  ``spikeforge triton``: the fused Triton kernel (``backend="triton"``).
- SpikingJelly ``activation_based.neuron.LIFNode(step_mode="m")``: same dynamics
  (decay_input=True, fires at ``H >= V_th``); version 2.0 has no ``backend`` argument
  (on CUDA it chooses its kernel itself, see below).
- snnTorch ``Leaky`` looped over ``x.unbind(0)``: the no-input-decay form
  ``U = β U + X`` with β = 0.5, ``reset_mechanism="zero"``, atan α = 2; fires at
  ``U > thr`` (ours at ``>=``; equality has probability 0 for random input). Compared
  against our reference with ``decay_input=False``.
- Norse ``LIFBoxCell`` looped over time: ``v += dt·τ_mem_inv·(x - v)`` with
  dt·τ_mem_inv = 0.5 (decay_input=True form), reset to 0, fires at ``v > v_th``; Norse
  has no arctan surrogate, so SuperSpike (α = 100) is used — the backward cost is alike.
- Norse ``LIF`` (its multi-step module): current-based (a synaptic current feeds the
  membrane one step later), so its spikes differ; listed for timing only.

Measured per shape: forward without autograd (inference), forward with an input that
requires grad (training forward), forward + backward (``torch.autograd.grad`` of the
spikes w.r.t. the input with a fixed upstream gradient), the bytes autograd saves for
backward (unique storages seen by ``torch.autograd.graph.saved_tensors_hooks``, per
neuron-step), the speed-up of the fused kernel over the fastest peer, and the ratio to a
memory-bandwidth bound: the bytes that must move (forward: read x + write spikes = 2
elements; forward + backward: 5 elements, 20 B in float32) at the bandwidth of a
measured ``copy_`` of the same tensor into an existing buffer. Times are medians over
repeats after warm-up. Other processes on a 2-core machine distort the numbers, so each
measurement first waits (up to 60 s, 10 min in all; not in quick mode) for the machine to
be idle; the wait and the busy fraction are recorded per row, with the load average.

On a CUDA GPU (``--device cuda``) the rows are our reference, our fused Triton kernel
(``backend="triton"``, also in float16 and bfloat16: computed in float32 registers, so
their spikes are checked against the float32 reference on the same rounded input) and
the peers on the GPU. SpikingJelly runs its default multi-step path, which in 2.0 picks a
CUDA implementation itself (native CUDA, then Triton, then torch; its environment
variable ``SJ_LIF_CUDA_IMPLEMENTATION`` forces one, and the row's notes say which ran);
releases whose ``LIFNode`` takes a ``backend`` argument get one row per backend the
node lists in ``supported_backends``. The fused C kernel takes CPU tensors only and is
left out. Every timed call is bracketed by ``torch.cuda.synchronize()``, so times are
wall-clock including kernel launches; the first call of each implementation is timed
on its own (for Triton it includes the JIT compile, unless Triton's on-disk cache
already holds the kernels, and the first-use self-check against the reference, see
:mod:`spikeforge.kernels.triton.check`). Peak extra memory is ``torch.cuda.max_memory_allocated()``
above what was allocated before the call, per neuron-step; the bandwidth bound comes
from a device-to-device ``copy_``. The report ends with the GPU target: fused
forward + backward at least 1.5x faster than SpikingJelly's fastest backend at
T=16, B=32, N=4096, float32.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..functional.lif import lif_sequence
from .device import (
    _WAIT_BUDGET,
    DEVICES,
    BenchDevice,
    DeviceUnavailableError,
    _median,
    bench_device,
    machine_info,
    saved_bytes,
    wait_for_quiet,
)
from .lif_impls import Impl, _details, implementations

FULL_SHAPES = [(4, 32, 4096), (16, 32, 4096), (64, 32, 4096), (4, 32, 64, 32, 32)]
QUICK_SHAPES = [(16, 32, 4096)]
PEER_PREFIXES = ("SpikingJelly", "snnTorch", "Norse")
DRAM_PROBE_ELEMENTS = 64 * 1024 * 1024  # float32: 256 MiB, far beyond any cache (or L2)
# The issue's GPU target: fused forward + backward at least this much faster than
# SpikingJelly's fastest backend, on this shape in float32.
GPU_TARGET_SHAPE = (16, 32, 4096)
GPU_TARGET_SPEEDUP = 1.5


@dataclass
class Row:
    """One implementation on one shape."""

    shape: list[int]
    impl: str
    status: str = "ok"
    spikes_match: float | None = None  # fraction of spikes equal to the matched reference
    fwd_infer_ms: float | None = None
    fwd_ms: float | None = None
    fwd_bwd_ms: float | None = None
    fwd_bwd_min_ms: float | None = None
    fwd_infer_min_ms: float | None = None
    saved_bytes_per_step: float | None = None
    # the very first calls, before any warm-up (a JIT compiler such as Triton's runs here)
    first_fwd_infer_ms: float | None = None
    first_fwd_bwd_ms: float | None = None
    # peak memory allocated above what was there before the call (None: not measured)
    peak_fwd_infer_bytes_per_step: float | None = None
    peak_fwd_bwd_bytes_per_step: float | None = None
    dtype: str = "float32"
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- devices


def _bench_impl(
    impl: Impl,
    shape: tuple[int, ...],
    x: torch.Tensor,
    g: torch.Tensor,
    cfg: dict[str, Any],
    max_wait_s: float,
    dev: BenchDevice,
) -> Row:
    row = Row(list(shape), impl.name, notes=impl.notes)
    row.dtype = str(impl.dtype).removeprefix("torch.")
    waited, busy = wait_for_quiet(max_wait_s)
    row.extra = {"waited_s": round(waited, 1), "machine_busy_before": busy}
    try:
        x = x.to(impl.dtype)
        g = g.to(impl.dtype)
        run = impl.make(shape, x.device)
        xg = x.detach().clone().requires_grad_(True)

        def infer() -> None:
            with torch.no_grad():
                run(x)

        def fwd() -> None:
            run(xg)

        def fwd_bwd() -> None:
            torch.autograd.grad(run(xg), xg, g)

        def spikes_no_grad() -> torch.Tensor:
            with torch.no_grad():
                return run(x)

        # the first calls, before any warm-up: they pay for a JIT compile, if any
        row.first_fwd_infer_ms, spikes = dev.timed_call(spikes_no_grad)
        row.first_fwd_bwd_ms, _ = dev.timed_call(fwd_bwd)
        if impl.details is not None:
            row.notes = f"{row.notes}; {_details(impl, x.device)}".lstrip("; ")
        if impl.reference is not None:
            # float16 / bfloat16 inputs: the float32 reference on the same rounded values
            ref, _ = lif_sequence(x.float(), p=impl.reference, backend="torch")
            row.spikes_match = float((spikes.float() == ref).float().mean())
        del spikes

        n = math.prod(shape)
        row.saved_bytes_per_step = saved_bytes(lambda: run(xg)) / n
        peak_infer = dev.peak_extra_bytes(infer)
        peak_train = dev.peak_extra_bytes(fwd_bwd)
        row.peak_fwd_infer_bytes_per_step = None if peak_infer is None else peak_infer / n
        row.peak_fwd_bwd_bytes_per_step = None if peak_train is None else peak_train / n
        infer_times = dev.time_ms(infer, **cfg)
        row.fwd_infer_ms = _median(infer_times)
        row.fwd_infer_min_ms = min(infer_times)
        row.fwd_ms = _median(dev.time_ms(fwd, **cfg))
        times = dev.time_ms(fwd_bwd, **cfg)
        row.fwd_bwd_ms = _median(times)
        row.fwd_bwd_min_ms = min(times)
    except Exception as exc:  # a broken peer must not stop the benchmark
        row.status = f"error: {type(exc).__name__}: {exc}"[:200]
    return row


def _copy_bandwidth(x: torch.Tensor, cfg: dict[str, Any], dev: BenchDevice) -> tuple[float, float]:
    """``(median ms, bytes/s)`` of ``copy_`` of ``x`` into an existing buffer (on ``x``'s
    device: a device-to-device copy on a GPU)."""
    buf = torch.empty_like(x)
    copy_ms = _median(dev.time_ms(lambda: buf.copy_(x), **cfg))
    return copy_ms, 2 * x.numel() * x.element_size() / (copy_ms * 1e-3)  # read + write


def _bound_ms(
    x: torch.Tensor, cfg: dict[str, Any], dram_bw: float, dev: BenchDevice
) -> dict[str, float]:
    """Bounds from a copy of the same tensor (may be cache-resident) and from DRAM."""
    copy_ms, bw = _copy_bandwidth(x, cfg, dev)
    el = x.element_size()
    return {
        "copy_ms": copy_ms,
        "bandwidth_GBps": bw / 1e9,
        "fwd_bound_ms": 2 * el * x.numel() / bw * 1e3,
        "fwd_bwd_bound_ms": 5 * el * x.numel() / bw * 1e3,
        "dram_bandwidth_GBps": dram_bw / 1e9,
        "fwd_bound_dram_ms": 2 * el * x.numel() / dram_bw * 1e3,
        "fwd_bwd_bound_dram_ms": 5 * el * x.numel() / dram_bw * 1e3,
    }


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "—" if v is None else format(v, spec)


def run(
    quick: bool = False,
    json_path: str | None = None,
    max_wait_s: float | None = None,
    device: str | BenchDevice = "cpu",
) -> str:
    """Run the benchmark; return a markdown report and optionally write JSON.

    ``max_wait_s``: total seconds to spend waiting for an idle machine before measurements
    (default 600, 0 in quick mode; at most 60 s before any one measurement).
    ``device``: ``"cpu"`` or ``"cuda"`` (or a :class:`BenchDevice`); ``"cuda"`` without a
    GPU raises :class:`DeviceUnavailableError` before anything runs.
    """
    dev = device if isinstance(device, BenchDevice) else bench_device(device)
    torch.manual_seed(0)
    info = machine_info() | dev.info()
    cfg = (
        {"warmup": 1, "repeats": 5, "budget_s": 0.3}
        if quick
        else {"warmup": 1, "repeats": 25, "budget_s": 1.5}
    )
    shapes = QUICK_SHAPES if quick else FULL_SHAPES
    total_wait = max_wait_s if max_wait_s is not None else (0.0 if quick else 600.0)
    _WAIT_BUDGET["left_s"] = total_wait
    max_wait_s = min(60.0, total_wait)
    # the CPU list is the historical zero-argument form (callers may substitute it)
    impls = implementations() if dev.name == "cpu" else implementations(dev.name)
    rows: list[Row] = []
    bounds: dict[str, dict[str, float]] = {}
    wait_for_quiet(max_wait_s)
    big = torch.ones(DRAM_PROBE_ELEMENTS, device=dev.torch_device)
    _, dram_bw = _copy_bandwidth(big, {"warmup": 1, "repeats": 5, "budget_s": 0.5}, dev)
    del big
    for shape in shapes:
        # drawn on the CPU, then moved: every device sees the same input values
        x = (torch.randn(shape) * 1.5 + 0.5).to(dev.torch_device)
        g = torch.randn(shape).to(dev.torch_device)
        key = "x".join(map(str, shape))
        wait_for_quiet(max_wait_s)
        bounds[key] = _bound_ms(x, cfg, dram_bw, dev)
        for impl in impls:
            if isinstance(impl, tuple):
                rows.append(Row(list(shape), impl[0], status=impl[1]))
            else:
                rows.append(_bench_impl(impl, shape, x, g, cfg, max_wait_s, dev))
    with contextlib.suppress(OSError):
        info["loadavg_end"] = list(os.getloadavg())
    targets = _targets(rows, bounds, f"spikeforge {dev.fused_backend}")
    device_target = target_of(dev, rows)
    text = _report(info, rows, bounds, targets, dev, device_target)
    if json_path:
        payload = {
            "machine": info,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "settings": cfg | {"quick": quick, "max_wait_s": total_wait, "device": dev.name},
            "bounds": bounds,
            "results": [asdict(r) for r in rows],
            "targets": targets,
        }
        if device_target is not None:
            payload["device_target"] = device_target
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(payload, indent=2) + "\n")
    return text


def _is_peer(row: Row) -> bool:
    return row.impl.startswith(PEER_PREFIXES) and row.status == "ok"


def _shape_key(shape: tuple[int, ...] | list[int]) -> str:
    return "x".join(map(str, shape))


def target_of(dev: BenchDevice, rows: list[Row]) -> dict[str, Any] | None:
    """The device's headline target: the GPU one (:func:`gpu_target`) on CUDA; the CPU
    table has none."""
    return gpu_target(rows) if dev.name == "cuda" else None


def gpu_target(rows: list[Row]) -> dict[str, Any]:
    """The issue's GPU target: fused forward + backward (``spikeforge triton``, float32)
    at least ``GPU_TARGET_SPEEDUP`` times faster than SpikingJelly's fastest backend at
    ``GPU_TARGET_SHAPE``. ``met`` is ``None`` when either side was not measured."""
    key = _shape_key(GPU_TARGET_SHAPE)
    here = [r for r in rows if _shape_key(r.shape) == key and r.status == "ok"]
    ours = next((r for r in here if r.impl == "spikeforge triton" and r.fwd_bwd_ms), None)
    sj = [r for r in here if r.impl.startswith("SpikingJelly") and r.fwd_bwd_ms]
    out: dict[str, Any] = {
        "shape": key,
        "required_speedup_fwd_bwd": GPU_TARGET_SPEEDUP,
        "met": None,
    }
    if ours is None or not sj:
        missing = "spikeforge triton" if ours is None else "SpikingJelly"
        out["reason"] = f"{missing} not measured at {key}"
        return out
    best = min(sj, key=lambda r: r.fwd_bwd_ms or math.inf)
    speedup = (best.fwd_bwd_ms or 0) / (ours.fwd_bwd_ms or math.inf)
    out |= {
        "spikingjelly_fastest": best.impl,
        "spikingjelly_fwd_bwd_ms": best.fwd_bwd_ms,
        "ours_fwd_bwd_ms": ours.fwd_bwd_ms,
        "speedup_fwd_bwd": speedup,
        "met": speedup >= GPU_TARGET_SPEEDUP,
    }
    return out


def _targets(
    rows: list[Row], bounds: dict[str, dict[str, float]], ours_name: str = "spikeforge cpu"
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, b in bounds.items():
        here = [r for r in rows if _shape_key(r.shape) == key]
        ours = next((r for r in here if r.impl == ours_name and r.status == "ok"), None)
        if ours is None:
            continue
        peers = [r for r in here if _is_peer(r) and r.fwd_bwd_ms is not None]
        entry: dict[str, Any] = {"shape": key}
        if peers:
            best = min(peers, key=lambda r: r.fwd_bwd_ms or math.inf)
            entry["fastest_peer"] = best.impl
            entry["speedup_fwd_bwd"] = (best.fwd_bwd_ms or 0) / (ours.fwd_bwd_ms or math.inf)
            bestf = min(peers, key=lambda r: r.fwd_ms or math.inf)
            entry["speedup_fwd"] = (bestf.fwd_ms or 0) / (ours.fwd_ms or math.inf)
        entry["fwd_infer_over_bound"] = (ours.fwd_infer_ms or 0) / b["fwd_bound_ms"]
        entry["fwd_train_over_bound"] = (ours.fwd_ms or 0) / b["fwd_bound_ms"]
        entry["fwd_bwd_over_bound"] = (ours.fwd_bwd_ms or 0) / b["fwd_bwd_bound_ms"]
        entry["fwd_infer_over_dram_bound"] = (ours.fwd_infer_ms or 0) / b["fwd_bound_dram_ms"]
        # best-of-repeats view: robust to other processes taking the CPUs for a while
        if peers:
            best_min = min(peers, key=lambda r: r.fwd_bwd_min_ms or math.inf)
            entry["speedup_fwd_bwd_min"] = (best_min.fwd_bwd_min_ms or 0) / (
                ours.fwd_bwd_min_ms or math.inf
            )
        entry["fwd_infer_min_over_bound"] = (ours.fwd_infer_min_ms or 0) / b["fwd_bound_ms"]
        entry["fwd_bwd_over_dram_bound"] = (ours.fwd_bwd_ms or 0) / b["fwd_bwd_bound_dram_ms"]
        sj = next((r for r in here if r.impl.startswith("SpikingJelly") and r.status == "ok"), None)
        if sj is not None and sj.saved_bytes_per_step:
            entry["saved_vs_spikingjelly"] = (
                ours.saved_bytes_per_step or 0
            ) / sj.saved_bytes_per_step
        if sj is not None and sj.peak_fwd_bwd_bytes_per_step and ours.peak_fwd_bwd_bytes_per_step:
            entry["peak_fwd_bwd_vs_spikingjelly"] = (
                ours.peak_fwd_bwd_bytes_per_step / sj.peak_fwd_bwd_bytes_per_step
            )
        out.append(entry)
    return out


# Device-specific columns of the main table: Row field -> (header, format).
_EXTRA_COLUMNS: dict[str, tuple[str, str]] = {
    "first_fwd_infer_ms": ("first call fwd no-grad", ".1f"),
    "first_fwd_bwd_ms": ("first call fwd+bwd", ".1f"),
    "peak_fwd_infer_bytes_per_step": ("peak fwd no-grad B/step", ".1f"),
    "peak_fwd_bwd_bytes_per_step": ("peak fwd+bwd B/step", ".1f"),
}


def _gpu_machine_line(info: dict[str, Any]) -> str:
    return (
        f"GPU: {info['gpu']} (compute capability {info['gpu_capability']}, "
        f"{info['gpu_multiprocessors']} SMs, {info['gpu_memory_GiB']} GiB), "
        f"CUDA runtime {info['cuda_runtime']}, driver API {info['cuda_driver_api']}, "
        f"NVIDIA driver {info['nvidia_driver']}, Triton {info['triton']}."
    )


def _target_line(t: dict[str, Any]) -> str:
    head = (
        f"GPU target ({t['shape']}, float32): fused forward+backward ≥ "
        f"{t['required_speedup_fwd_bwd']}× SpikingJelly's fastest backend"
    )
    if t["met"] is None:
        return f"{head}: not measured ({t['reason']})."
    return (
        f"{head}: {t['spikingjelly_fastest']} {t['spikingjelly_fwd_bwd_ms']:.3f} ms / "
        f"spikeforge triton {t['ours_fwd_bwd_ms']:.3f} ms = {t['speedup_fwd_bwd']:.2f}× — "
        f"**{'met' if t['met'] else 'not met'}**."
    )


def _report(
    info: dict[str, Any],
    rows: list[Row],
    bounds: dict[str, dict[str, float]],
    targets: list[dict[str, Any]],
    dev: BenchDevice | None = None,
    device_target: dict[str, Any] | None = None,
) -> str:
    dev = dev if dev is not None else BenchDevice()
    extra = [(f, *_EXTRA_COLUMNS[f]) for f in dev.extra_columns]
    lines = [
        f"## LIF layer, side by side ({dev.name.upper()})",
        "",
        f"Machine: {info['cpu_model']} ({info['cores']} cores, AVX-512: {info['avx512']}), "
        f"torch {info['torch']}, {info['torch_threads']} threads, {info['date']}, "
        f"load average at start {[round(v, 2) for v in info.get('loadavg_start', [])]}, "
        f"at end {[round(v, 2) for v in info.get('loadavg_end', [])]}.",
    ]
    if "gpu" in info:
        lines.append(_gpu_machine_line(info))
    lines += [
        "Dynamics: τ=2, V_th=1, hard reset to 0, atan surrogate (see module docstring for "
        "each peer's differences). Times: median ms. Saved: bytes autograd keeps for "
        "backward per neuron-step. Bound: bytes that must move / measured copy_ bandwidth.",
        *dev.notes,
        "",
        "| shape | implementation | spikes = ref | fwd no-grad | fwd | fwd+bwd | "
        "fwd+bwd min | saved B/step | "
        + "".join(f"{header} | " for _, header, _ in extra)
        + "notes |",
        "|---|---|---|---|---|---|---|---|" + "---|" * len(extra) + "---|",
    ]
    for r in rows:
        key = _shape_key(r.shape)
        if r.status != "ok":
            lines.append(f"| {key} | {r.impl} |" + " — |" * (6 + len(extra)) + f" {r.status} |")
            continue
        match = "—" if r.spikes_match is None else f"{r.spikes_match:.6f}"
        lines.append(
            f"| {key} | {r.impl} | {match} | {_fmt(r.fwd_infer_ms)} | {_fmt(r.fwd_ms)} | "
            f"{_fmt(r.fwd_bwd_ms)} | {_fmt(r.fwd_bwd_min_ms)} | "
            f"{_fmt(r.saved_bytes_per_step, '.1f')} | "
            + "".join(f"{_fmt(getattr(r, f), spec)} | " for f, _, spec in extra)
            + f"{r.notes} |"
        )
    mem = dev.memory_label
    lines += [
        "",
        "| shape | copy_ GB/s (same tensor) | fwd bound ms | fwd+bwd bound ms | "
        f"{mem} copy_ GB/s (256 MiB) | fwd {mem} bound ms | fwd+bwd {mem} bound ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, b in bounds.items():
        lines.append(
            f"| {key} | {b['bandwidth_GBps']:.1f} | {b['fwd_bound_ms']:.3f} | "
            f"{b['fwd_bwd_bound_ms']:.3f} | {b['dram_bandwidth_GBps']:.1f} | "
            f"{b['fwd_bound_dram_ms']:.3f} | {b['fwd_bwd_bound_dram_ms']:.3f} |"
        )
    lines += [
        "",
        "| shape | fastest peer (fwd+bwd) | fused speed-up fwd+bwd | fwd | "
        "fwd no-grad / bound | fwd / bound | fwd+bwd / bound | "
        f"fwd no-grad / {mem} bound | fwd+bwd / {mem} bound | saved vs SJ | "
        "peak fwd+bwd vs SJ | speed-up fwd+bwd (best-of) | fwd no-grad best-of / bound |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in targets:
        lines.append(
            f"| {t['shape']} | {t.get('fastest_peer', '—')} | "
            f"{_fmt(t.get('speedup_fwd_bwd'), '.1f')}× | {_fmt(t.get('speedup_fwd'), '.1f')}× | "
            f"{t['fwd_infer_over_bound']:.2f} | {t['fwd_train_over_bound']:.2f} | "
            f"{t['fwd_bwd_over_bound']:.2f} | {t['fwd_infer_over_dram_bound']:.2f} | "
            f"{t['fwd_bwd_over_dram_bound']:.2f} | "
            f"{_fmt(t.get('saved_vs_spikingjelly'), '.2f')} | "
            f"{_fmt(t.get('peak_fwd_bwd_vs_spikingjelly'), '.2f')} | "
            f"{_fmt(t.get('speedup_fwd_bwd_min'), '.1f')}× | "
            f"{t['fwd_infer_min_over_bound']:.2f} |"
        )
    if device_target is not None:
        lines += ["", _target_line(device_target)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``spikeforge bench neurons [--quick] [--json PATH] [--max-wait S] [--device D]``."""
    parser = argparse.ArgumentParser(prog="spikeforge bench neurons", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one shape, few repeats (< 60 s)")
    parser.add_argument("--json", metavar="PATH", default=None, help="write results as JSON")
    parser.add_argument(
        "--max-wait",
        metavar="S",
        type=float,
        default=None,
        help="seconds in all to wait for an idle machine (default 600; 0 with --quick)",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="cpu",
        help="cpu (default): reference, fused C kernel, peers; cuda: reference, fused "
        "Triton kernel, peers on the GPU",
    )
    args = parser.parse_args(argv)
    try:
        dev = bench_device(args.device)
    except DeviceUnavailableError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    text = run(quick=args.quick, json_path=args.json, max_wait_s=args.max_wait, device=dev)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
