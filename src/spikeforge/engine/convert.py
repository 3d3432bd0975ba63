"""``spikeforge convert``: accuracy of a converted ANN checkpoint as a function of T.

The ANN comes from its checkpoint (:func:`~.pretrained.load_ann`), is converted with the
chosen calibration, and evaluated over T in one long run
(:func:`~spikeforge.methods.conversion.evaluate.accuracy_vs_timesteps`); energy per
inference from :func:`~spikeforge.analysis.inference.measure_inference`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..analysis.inference import measure_inference
from ..data import sample_indices
from ..methods.conversion import convert
from ..methods.conversion.evaluate import (
    DEFAULT_TIMESTEPS,
    accuracy_vs_timesteps,
    ann_accuracy,
    calibration_inputs,
)
from .build import build_datasets
from .pretrained import load_ann


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
    batch_size: int = 32,
    energy_samples: int = 32,
    progress: bool = False,
) -> dict[str, Any]:
    """Convert the ANN in ``checkpoint``; accuracy, firing rate and energy vs T.

    Energy per inference (µJ, 45 nm) is counted on the first ``energy_samples`` test
    images (0 skips it), for the ANN (dense MACs) and the SNN at each T. ``progress``: a bar
    over the sweep's batches.

    ``dataset`` replaces the checkpoint's dataset; its samples must have the shape the
    ANN was trained on (else ``ValueError`` naming both: a global pooling layer would
    accept other sizes and report a meaningless accuracy).
    """
    if not timesteps or any(int(t) < 1 for t in timesteps):
        raise ValueError(f"timesteps must be positive ints, got {list(timesteps)!r}")
    ann, config, train_set, test_set = load_ann(checkpoint)
    if dataset is not None and dataset != config.data.name:
        trained_on, trained_shape = config.data.name, _sample_shape(train_set)
        config.data.name = dataset
        train_set, test_set = build_datasets(config)
        for split, data in (("train", train_set), ("test", test_set)):
            shape = _sample_shape(data)
            if shape != trained_shape:
                raise ValueError(
                    f"dataset {dataset!r} has samples of shape {list(shape)} ({split} split) "
                    f"but the ANN in {str(checkpoint)!r} was trained on {trained_on!r} "
                    f"samples of shape {list(trained_shape)}; convert with a dataset of the "
                    f"same input shape (or leave --dataset out to use {trained_on!r})"
                )
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
    per_t = accuracy_vs_timesteps(
        snn, test_set, timesteps, batch_size, limit=test_samples, progress=progress
    )
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


def _sample_shape(dataset: Any) -> tuple[int, ...]:
    """Shape of one input sample (the first item's input) of a dataset."""
    if len(dataset) == 0:
        raise ValueError("the dataset is empty: cannot convert or evaluate on it")
    item = dataset[0]
    sample = item[0] if isinstance(item, tuple | list) else item
    return tuple(torch.as_tensor(sample).shape)


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

    from ..analysis.svg import line_chart

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
