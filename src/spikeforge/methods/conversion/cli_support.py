"""``spikeforge convert``: accuracy of a converted ANN checkpoint as a function of T.

One pass of ``max(T)`` steps gives every requested T: the SNN is causal, so the
accumulated output membrane after ``T`` steps of a long run is the readout of a run of
length ``T``. Time is processed in chunks whose neuron states are carried over
(:meth:`~.model.ConvertedSNN.run`), so memory does not grow with T. Inputs are
direct-encoded (the image at every step).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from ...analysis.inference import measure_inference
from ...data import sample_indices, time_major_collate
from .model import ConvertedSNN
from .neurons import ConvertedIF

DEFAULT_TIMESTEPS = (8, 16, 32, 64, 128, 256)


def _batches(dataset: Dataset, batch_size: int, limit: int | None):
    """Batches of the whole dataset, or of a seeded random subset of ``limit`` samples
    (not the first ones: class-sorted datasets would give one class)."""
    indices = sample_indices(len(dataset), len(dataset) if limit is None else limit)
    for chunk in indices.split(batch_size):
        yield time_major_collate([dataset[int(i)] for i in chunk], temporal=False)


@torch.no_grad()
def ann_accuracy(
    ann: nn.Module, dataset: Dataset, batch_size: int = 512, limit: int | None = None
) -> float:
    """Test accuracy of an ANN (``[B, ...] -> [B, C]``) on a static dataset."""
    flags = {m: m.training for m in ann.modules()}
    ann.eval()
    correct = total = 0
    try:
        for x, y in _batches(dataset, batch_size, limit):
            correct += int((ann(x).argmax(-1) == y).sum())
            total += len(y)
    finally:
        for module, training in flags.items():
            module.training = training
    return correct / max(1, total)


@torch.no_grad()
def accuracy_vs_timesteps(
    snn: ConvertedSNN,
    dataset: Dataset,
    timesteps: Sequence[int] = DEFAULT_TIMESTEPS,
    batch_size: int = 256,
    chunk: int = 32,
    limit: int | None = None,
) -> dict[int, dict[str, float]]:
    """``{T: {"accuracy", "firing_rate"}}`` for every T, from one run of ``max(T)`` steps.

    ``firing_rate``: spikes of all converted layers over the first T steps divided by
    ``T × samples × neurons``.
    """
    steps_wanted = sorted({int(t) for t in timesteps})
    if not steps_wanted or steps_wanted[0] < 1:
        raise ValueError(f"timesteps must be positive ints, got {list(timesteps)!r}")
    horizon = steps_wanted[-1]
    spikes_per_step = torch.zeros(horizon, dtype=torch.float64)
    neurons_per_sample = 0
    correct = dict.fromkeys(steps_wanted, 0)
    total = 0
    counting: dict[str, Any] = {"offset": 0}

    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal neurons_per_sample
        spikes = output.detach().unflatten(0, (counting["length"], -1))  # [T, B, ...]
        per_step = spikes.flatten(1).ne(0).sum(1).double()
        offset = counting["offset"]
        spikes_per_step[offset : offset + len(per_step)] += per_step
        if counting.get("first"):
            neurons_per_sample += spikes[0, 0].numel()

    neurons = [m for m in snn.modules() if isinstance(m, ConvertedIF)]
    handles = [neuron.register_forward_hook(hook) for neuron in neurons]
    flags = {m: m.training for m in snn.modules()}
    snn.eval()
    try:
        for batch_index, (x, y) in enumerate(_batches(dataset, batch_size, limit)):
            state, membrane, t = None, None, 0
            while t < horizon:
                length = min(chunk, horizon - t)
                counting["offset"], counting["length"] = t, length
                counting["first"] = batch_index == 0 and t == 0
                z, state = snn.run(x.unsqueeze(0).expand(length, *x.shape), state)
                cumulative = z.cumsum(0) + (membrane if membrane is not None else 0.0)
                for steps in steps_wanted:
                    if t < steps <= t + length:
                        predicted = cumulative[steps - t - 1].argmax(-1)
                        correct[steps] += int((predicted == y).sum())
                membrane = cumulative[-1]
                t += length
            total += len(y)
    finally:
        for handle in handles:
            handle.remove()
        for module, training in flags.items():
            module.training = training
    cumulative_spikes = spikes_per_step.cumsum(0)
    return {
        steps: {
            "accuracy": correct[steps] / max(1, total),
            "firing_rate": float(cumulative_spikes[steps - 1])
            / max(1, steps * total * neurons_per_sample),
        }
        for steps in steps_wanted
    }


def run_conversion(
    checkpoint: str | Path,
    timesteps: Sequence[int] = DEFAULT_TIMESTEPS,
    dataset: str | None = None,
    calibration: str = "percentile",
    percentile: float = 99.9,
    per_channel: bool = False,
    calibration_samples: int = 1024,
    maxpool: str = "avg",
    test_samples: int | None = None,
    batch_size: int = 256,
    energy_samples: int = 32,
) -> dict[str, Any]:
    """Convert the ANN in ``checkpoint``; accuracy, firing rate and energy vs T.

    Energy per inference (µJ, 45 nm) is counted on the first ``energy_samples`` test
    images (0 skips it), for the ANN (dense MACs) and the SNN at each T.
    """
    from ...engine.build import build_datasets
    from ..hybrid import calibration_inputs, load_ann
    from .pipeline import convert

    if not timesteps or any(int(t) < 1 for t in timesteps):
        raise ValueError(f"timesteps must be positive ints, got {list(timesteps)!r}")
    ann, config, train_set, test_set = load_ann(checkpoint)
    if dataset is not None and dataset != config.data.name:
        config.data.name = dataset
        train_set, test_set = build_datasets(config)
    options: dict[str, Any] = {"per_channel": per_channel}
    if calibration == "percentile":
        options["percentile"] = percentile
    start = time.perf_counter()
    snn = convert(
        ann,
        calibration_inputs(train_set, calibration_samples),
        calibration,
        maxpool=maxpool,
        **options,
    )
    convert_seconds = time.perf_counter() - start
    ann_acc = ann_accuracy(ann, test_set, limit=test_samples)
    start = time.perf_counter()
    per_t = accuracy_vs_timesteps(snn, test_set, timesteps, batch_size, limit=test_samples)
    ann_energy = None
    if energy_samples > 0:
        chosen = sample_indices(len(test_set), energy_samples)
        images = torch.stack([test_set[int(i)][0] for i in chosen])
        ann_energy = measure_inference(ann, images.unsqueeze(0))["energy_uj"]
        for steps, row in per_t.items():
            seq = images.unsqueeze(0).expand(steps, *images.shape)
            row["energy_uj"] = measure_inference(snn, seq)["energy_uj"]
    within = [t for t, r in per_t.items() if r["accuracy"] >= ann_acc - 0.01]
    return {
        "checkpoint": str(checkpoint),
        "dataset": config.data.name,
        "model": config.model.name,
        "test_samples": test_samples or len(test_set),
        "conversion": {k: v for k, v in snn.info.items() if not isinstance(v, dict)},
        "ann_accuracy": ann_acc,
        "ann_energy_uj": ann_energy,
        "timesteps": {str(t): r for t, r in per_t.items()},
        "smallest_t_within_1pct": min(within) if within else None,
        "seconds": {
            "convert": round(convert_seconds, 2),
            "evaluate": round(time.perf_counter() - start, 2),
        },
    }


def format_table(result: dict[str, Any]) -> str:
    """Plain-text table: ANN accuracy, then accuracy and firing rate per T."""
    lines = [
        f"{result['model']} on {result['dataset']} ({result['test_samples']} test samples); "
        f"{result['conversion'].get('calibration', '')}",
        f"ANN accuracy: {result['ann_accuracy']:.4f}"
        + (f", energy {result['ann_energy_uj']:.4g} µJ" if result.get("ann_energy_uj") else ""),
        f"{'T':>6}  {'accuracy':>8}  {'gap':>7}  {'rate':>6}  {'energy µJ':>10}",
    ]
    for steps, r in result["timesteps"].items():
        gap = r["accuracy"] - result["ann_accuracy"]
        energy = f"{r['energy_uj']:10.4g}" if "energy_uj" in r else f"{'-':>10}"
        lines.append(
            f"{steps:>6}  {r['accuracy']:8.4f}  {gap:+7.4f}  {r['firing_rate']:6.4f}  {energy}"
        )
    smallest = result["smallest_t_within_1pct"]
    lines.append(f"smallest T within 1% of the ANN: {smallest if smallest else 'none'}")
    return "\n".join(lines)


def write_plot(result: dict[str, Any], path: str | Path) -> Path:
    """SVG line chart of accuracy vs T (with the ANN's accuracy as a flat line)."""
    import math

    from ...analysis.svg import line_chart

    steps = [math.log2(float(t)) for t in result["timesteps"]]
    accuracy = [r["accuracy"] for r in result["timesteps"].values()]
    svg = line_chart(
        {"converted SNN": (steps, accuracy), "ANN": (steps, [result["ann_accuracy"]] * len(steps))},
        title=f"{result['model']} on {result['dataset']}: accuracy vs T",
        xlabel="log2 T (timesteps)",
        ylabel="test accuracy",
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg)
    return path
