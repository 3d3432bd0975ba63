"""Evaluation speed on one CPU core: the evaluation batch size, the pieces of a
conversion sweep, and how spikes are counted.

Three measurements, each case in a fresh process (``threads`` torch threads), the cases
of a measurement alternating, ``repeats`` times each; a row gives the median.

- **evaluate**: :meth:`~spikeforge.engine.trainer.Trainer.evaluate` (what every stage
  runs after each epoch: forward, loss, decoder, firing-rate monitor) of an untrained
  zoo network on ``images`` random CIFAR-shaped inputs ``[3, 32, 32]`` at T = 4, per
  ``data.eval_batch_size``. Dense convolutions cost the same on random and real images;
  the spike counts differ, which the monitor's share of the time reflects.
- **conversion**: :func:`~spikeforge.methods.conversion.evaluate.accuracy_vs_timesteps`
  of a converted BN-free VGG-small (the LaSNN intermediate ANN's shape, random weights,
  max-activation thresholds from 64 random images) on ``images`` inputs to T =
  ``horizon``, per (samples, steps) piece. The curve (accuracy and firing rate at each
  T) must not depend on the piece; the row says whether it agreed with the first row's.
- **spike counting**: a ``[512, 16, 32, 32]`` float tensor of 0/0.7 spikes (15 %
  non-zero; the first spiking layer of VGG-small over one conversion piece of 64 samples
  × 8 steps, a converted neuron's output ``λ·S``), counted whole as the firing-rate
  monitors count (:func:`~spikeforge.analysis.spike_count.count_spikes` vs
  ``torch.count_nonzero`` vs ``(x != 0).sum()``) and per step as the conversion sweep
  counts (``count_spikes_per_step`` vs ``count_nonzero`` with ``dim=1``), the median of
  ``steps`` calls each.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch

from ..analysis.spike_count import count_spikes, count_spikes_per_step
from .results import machine_line, run_cpu_benchmark
from .rss import run_fresh

NAME = "evaluation"
# the networks the CIFAR pipelines evaluate: the LaSNN BatchNorm student and the MAE
# fine-tuned encoder (model config as the stage configs name them)
NETS = {
    "spiking_vgg_small (IF, soft reset)": {
        "name": "spiking_vgg_small",
        "neuron": "if",
        "neuron_kwargs": {"reset": "subtract"},
    },
    "spikformer_v2_tiny (LIF)": {"name": "spikformer_v2_tiny", "neuron": "lif"},
}
FULL = {
    "images": 1000,
    "eval_batch_sizes": [50, 100, 250, 500],
    "conversion_images": 512,
    "horizon": 32,
    "pieces": [[256, 32], [128, 16], [64, 8], [32, 4]],
    "steps": 11,
    "repeats": 3,
}
QUICK = {
    "images": 8,
    "eval_batch_sizes": [4, 8],
    "conversion_images": 8,
    "horizon": 4,
    "pieces": [[8, 4], [4, 2]],
    "steps": 1,
    "repeats": 1,
}


def _images(count: int) -> torch.utils.data.TensorDataset:
    """``count`` seeded random CIFAR-shaped images with labels 0..9."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(count, 3, 32, 32, generator=generator)
    y = torch.arange(count) % 10
    dataset = torch.utils.data.TensorDataset(x, y)
    dataset.labels = y.tolist()  # type: ignore[attr-defined]  # what build_model reads
    return dataset


def evaluate_case(settings: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    """Seconds of one ``Trainer.evaluate`` (run in a fresh process by :func:`measure`)."""
    import tempfile

    from ..engine.config import config_from_dict
    from ..engine.run import make_trainer

    torch.set_num_threads(case.get("threads", 1))
    net = NETS[case["net"]]
    model = {"name": net["name"], "neuron": net["neuron"]}
    model["neuron_kwargs"] = net.get("neuron_kwargs", {})
    config = config_from_dict({
        "data": {"name": "cifar10-small", "timesteps": 4,
                 "eval_batch_size": case["eval_batch_size"]},
        "model": model,
        "train": {"progress": False, "tensorboard": False, "method": "bptt",
                  "objective": "ce_membrane"},
    })  # fmt: skip
    images = _images(settings["images"])
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = make_trainer(config, run_dir, datasets=(images, images))
        trainer.evaluate(_images(min(8, settings["images"])))  # warm-up: kernels, caches
        start = time.perf_counter()
        result = trainer.evaluate(images)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "accuracy": result["accuracy"]}


def conversion_case(settings: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    """Seconds of one conversion sweep (run in a fresh process by :func:`measure`)."""
    from ..methods.conversion.evaluate import accuracy_vs_timesteps
    from ..methods.conversion.pipeline import convert
    from ..models import create

    torch.set_num_threads(case.get("threads", 1))
    torch.manual_seed(0)
    ann = create("ann_vgg_small", num_classes=10, in_channels=3, input_size=32,
                 batch_norm=False, bias=False, pool="avg")  # fmt: skip
    snn = convert(ann, _images(64).tensors[0], "max", neuron="if", surrogate="triangle")
    images = _images(settings["conversion_images"])
    batch, chunk = case["piece"]
    horizon = settings["horizon"]
    timesteps = [t for t in (1, 2, 4, 8, 16, 32, 64, 128, 256) if t < horizon] + [horizon]
    accuracy_vs_timesteps(snn, _images(4), [2], batch_size=4, chunk=2)  # warm-up
    start = time.perf_counter()
    curve = accuracy_vs_timesteps(snn, images, timesteps, batch_size=batch, chunk=chunk)
    seconds = time.perf_counter() - start
    points = [[curve[t]["accuracy"], curve[t]["firing_rate"]] for t in timesteps]
    return {"seconds": seconds, "curve": points}


def counting_case(settings: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    """Median seconds per way of counting spikes (fresh process); whether each pair of
    ways gave the same counts."""
    torch.set_num_threads(case.get("threads", 1))
    generator = torch.Generator().manual_seed(0)
    spikes = 0.7 * (torch.rand(512, 16, 32, 32, generator=generator) < 0.15).float()
    per_step = spikes.unflatten(0, (8, -1))  # [T, B, C, H, W]
    ways = {
        "whole: count_spikes(x)": lambda: torch.tensor(count_spikes(spikes)),
        "whole: torch.count_nonzero(x)": lambda: torch.count_nonzero(spikes),
        "whole: (x != 0).sum()": lambda: (spikes != 0).sum(),
        "per step: count_spikes_per_step(x)": lambda: count_spikes_per_step(per_step),
        "per step: count_nonzero(x.flatten(1), dim=1)": lambda: torch.count_nonzero(
            per_step.flatten(1), dim=1
        ),
    }
    out: dict[str, Any] = {}
    counts = {}
    for way, count in ways.items():
        counts[way] = count()  # warm-up
        seconds = []
        for _ in range(settings["steps"]):
            start = time.perf_counter()
            count()
            seconds.append(time.perf_counter() - start)
        out[way] = statistics.median(seconds)
    whole = [int(c) for c in list(counts.values())[:3]]
    steps = [c.double() for c in list(counts.values())[3:]]
    out["agree"] = len(set(whole)) == 1 and torch.equal(*steps)
    return out


def _median_rows(outs: list[dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    failed = [o["failed"] for o in outs if "failed" in o]
    if failed:
        return {"failed": failed[0]}
    return {key: statistics.median(o[key] for o in outs) for key in keys}


def measure(settings: dict[str, Any], threads: int) -> dict[str, list[dict[str, Any]]]:
    """The three measurements' rows (see the module docstring)."""
    evaluate_rows = []
    for net in NETS:
        outs: dict[int, list[dict[str, Any]]] = {b: [] for b in settings["eval_batch_sizes"]}
        for _ in range(settings["repeats"]):
            for size in outs:
                case = {"net": net, "eval_batch_size": size, "threads": threads}
                outs[size].append(run_fresh(__name__, "evaluate_case", settings, case, False))
        for size, runs in outs.items():
            row = _median_rows(runs, ["seconds"])
            evaluate_rows.append({"net": net, "eval_batch_size": size, **row})
    pieces: dict[tuple[int, int], list[dict[str, Any]]] = {
        (b, c): [] for b, c in settings["pieces"]
    }
    for _ in range(settings["repeats"]):
        for piece in pieces:
            case = {"piece": list(piece), "threads": threads}
            pieces[piece].append(run_fresh(__name__, "conversion_case", settings, case, False))
    reference = next((o for runs in pieces.values() for o in runs if "failed" not in o), None)
    conversion_rows = []
    for (batch, chunk), runs in pieces.items():
        row = {"samples": batch, "steps": chunk, **_median_rows(runs, ["seconds"])}
        if "failed" not in row and reference is not None:
            row["same_curve"] = all(o["curve"] == reference["curve"] for o in runs)
        conversion_rows.append(row)
    counting = [run_fresh(__name__, "counting_case", settings, {"threads": threads}, False)]
    for _ in range(settings["repeats"] - 1):
        counting.append(run_fresh(__name__, "counting_case", settings, {"threads": threads}, False))
    ways = [k for k in counting[0] if k not in ("agree", "failed")]
    counting_row = _median_rows(counting, ways)
    if "failed" not in counting_row:
        counting_row["agree"] = all(o["agree"] for o in counting)
    return {"evaluate": evaluate_rows, "conversion": conversion_rows, "counting": [counting_row]}


def _ratio(seconds: float | None, base: float | None) -> str:
    return f"{seconds / base:.2f}×" if seconds and base else "-"


def markdown(result: dict[str, Any]) -> str:
    meta, rows = result["meta"], result["rows"]
    s = meta["settings"]
    lines = [
        "# Evaluation speed: batch size, conversion pieces, spike counting",
        "",
        f"{machine_line(meta)} Median of {s['repeats']} fresh processes per row.",
        "",
        f"## `Trainer.evaluate`, {s['images']} random CIFAR-shaped images, T = 4",
        "",
        "| net | eval batch size | seconds | vs the largest batch |",
        "|---|---:|---:|---:|",
    ]
    for net in dict.fromkeys(r["net"] for r in rows["evaluate"]):
        mine = [r for r in rows["evaluate"] if r["net"] == net]
        base = max(mine, key=lambda r: r["eval_batch_size"]).get("seconds")
        for r in mine:
            cell = f"failed: {r['failed']}" if "failed" in r else f"{r['seconds']:.2f}"
            lines.append(
                f"| {net} | {r['eval_batch_size']} | {cell} | {_ratio(r.get('seconds'), base)} |"
            )
    lines += [
        "",
        f"## Conversion sweep, {s['conversion_images']} images to T = {s['horizon']}",
        "",
        "| samples × steps per piece | seconds | vs the largest piece | same curve |",
        "|---|---:|---:|---|",
    ]
    base = rows["conversion"][0].get("seconds")
    for r in rows["conversion"]:
        cell = f"failed: {r['failed']}" if "failed" in r else f"{r['seconds']:.2f}"
        same = {True: "yes", False: "NO"}.get(r.get("same_curve"), "-")
        lines.append(
            f"| {r['samples']} × {r['steps']} | {cell} | "
            f"{_ratio(r.get('seconds'), base)} | {same} |"
        )
    count = rows["counting"][0]
    lines += ["", "## Spike counting, [512, 16, 32, 32] spikes (8 steps × 64 samples)", ""]
    if "failed" in count:
        lines.append(f"failed: {count['failed']}")
    else:
        lines += ["| way | ms |", "|---|---:|"]
        lines += [f"| `{k}` | {1000 * v:.1f} |" for k, v in count.items() if k != "agree"]
        lines += ["", f"Counts agree: {'yes' if count['agree'] else 'NO'}."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``spikeforge bench evaluation [--quick] [--threads K] [--out DIR]``."""
    return run_cpu_benchmark(NAME, __doc__, argv, (FULL, QUICK), measure, markdown)
