"""Training-step time, page faults and peak memory with glibc's default malloc vs
:func:`~spikeforge.engine.allocator.keep_freed_memory` (``SPIKEFORGE_MALLOC=keep`` makes
``spikeforge train`` / ``run`` use it).

Each case is one training step (forward, cross-entropy of the time-mean output,
backward, AdamW step) of a zoo network on random CIFAR-shaped inputs ``[T, B, 3, 32,
32]``, in a fresh process per measurement (the setting is process-wide), the two
allocator settings alternating, ``repeats`` times each. A measurement: the median
seconds of ``steps`` steps after ``warmup`` steps, the minor page faults per step over
those steps (``getrusage``; load does not change them, unlike seconds), and the
process's peak resident set (``ru_maxrss``).
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .results import machine_line, run_cpu_benchmark
from .rss import run_fresh

NAME = "allocator"
# what the trained networks of the CIFAR runs are: T-RevSNN's reversible column net
# (compare_trevsnn_cifar10_small), the same comparison's SEW-ResNet-18 and a Spikformer V2
NETS = {
    "trevsnn_cifar (reversible)": (
        "trevsnn_cifar",
        {"neuron": "q", "timesteps": 4, "reversible": True},
    ),
    "sew_resnet18 (width 22)": (
        "sew_resnet18",
        {"neuron": "lif", "base_width": 22, "connect": "add", "in_channels": 3, "input_size": 32},
    ),
    "spikformer_v2_tiny": (
        "spikformer_v2_tiny",
        {"neuron": "lif", "in_channels": 3, "input_size": 32},
    ),
}
FULL = {"batch": 64, "timesteps": 4, "warmup": 3, "steps": 8, "repeats": 3}
QUICK = {"batch": 4, "timesteps": 4, "warmup": 1, "steps": 2, "repeats": 1}
SETTINGS = ("default", "keep_freed_memory")


def measure_case(settings: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    """One measurement (run in a fresh process by :func:`measure`)."""
    if case["allocator"] == "keep_freed_memory":
        from ..engine.allocator import keep_freed_memory

        reason = keep_freed_memory()
        if reason is not None:
            return {"failed": reason}
    from ..models import create

    torch.manual_seed(0)
    name, kwargs = NETS[case["net"]]
    model = create(name, num_classes=10, **kwargs)
    x = torch.rand(settings["timesteps"], settings["batch"], 3, 32, 32)
    y = torch.randint(0, 10, (settings["batch"],))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x).mean(0), y).backward()
        optimizer.step()

    for _ in range(settings["warmup"]):
        step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    seconds = []
    for _ in range(settings["steps"]):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": statistics.median(seconds),
        "faults_per_step": (usage.ru_minflt - faults) / settings["steps"],
        "peak_rss_mib": usage.ru_maxrss / 1024,  # KiB on Linux
    }


def measure(settings: dict[str, Any], threads: int) -> list[dict[str, Any]]:
    """Per net and setting: medians over repeats (each a fresh process, alternating)."""
    rows = []
    for net in NETS:
        runs: dict[str, list[dict[str, Any]]] = {s: [] for s in SETTINGS}
        for _ in range(settings["repeats"]):
            for allocator in SETTINGS:
                case = {"net": net, "allocator": allocator, "threads": threads}
                out = run_fresh(__name__, "measure_case", settings, case, fixed_mmap=False)
                runs[allocator].append(out)
        for allocator, outs in runs.items():
            failed = [o["failed"] for o in outs if "failed" in o]
            row: dict[str, Any] = {"net": net, "allocator": allocator}
            if failed:
                rows.append({**row, "failed": failed[0]})
                continue
            for key in ("seconds", "faults_per_step", "peak_rss_mib"):
                row[key] = statistics.median(o[key] for o in outs)
            rows.append(row)
    return rows


def markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    lines = [
        "# glibc malloc: default vs keep_freed_memory, one training step",
        "",
        f"{machine_line(meta)} Batch "
        f"{meta['settings']['batch']}, T = {meta['settings']['timesteps']}, median of "
        f"{meta['settings']['steps']} steps after {meta['settings']['warmup']}, median of "
        f"{meta['settings']['repeats']} fresh processes per row.",
        "",
        "| net | allocator | s / step | page faults / step | peak RSS (MiB) | time vs default |",
        "|---|---|---:|---:|---:|---:|",
    ]
    default = {r["net"]: r for r in result["rows"] if r["allocator"] == "default"}
    for r in result["rows"]:
        if "failed" in r:
            lines.append(f"| {r['net']} | {r['allocator']} | failed: {r['failed']} | | | |")
            continue
        base = default.get(r["net"], {})
        ratio = r["seconds"] / base["seconds"] if base.get("seconds") else None
        lines.append(
            f"| {r['net']} | {r['allocator']} | {r['seconds']:.3f} | "
            f"{r['faults_per_step']:,.0f} | {r['peak_rss_mib']:.0f} | "
            + (f"{ratio:.2f}× |" if ratio is not None else "- |")
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``spikeforge bench allocator [--quick] [--threads K] [--out DIR]``."""
    return run_cpu_benchmark(NAME, __doc__, argv, (FULL, QUICK), measure, markdown)


if __name__ == "__main__":
    raise SystemExit(main())
