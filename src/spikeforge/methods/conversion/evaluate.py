"""Evaluating converted SNNs: accuracy (and firing rate) as a function of T, the ANN's
accuracy, and the calibration sample (behind ``spikeforge convert`` and the pipelines).

One pass of ``max(T)`` steps gives every requested T: the SNN is causal, so the
accumulated output membrane after ``T`` steps of a long run is the readout of a run of
length ``T``. Time is processed in chunks whose neuron states are carried over
(:meth:`~.model.ConvertedSNN.run`), so memory does not grow with T. Inputs are
direct-encoded (the image at every step).

A long sweep (CIFAR at T = 512 takes most of an hour on one core) can keep its tallies
in a file after every batch (``resume=``), so that an interrupted sweep continues from
the batch where it stopped instead of starting over; the file names the model (a hash of
its state) and the settings, and a file from another model or other settings is ignored.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from ..._progress import progress as progress_display
from ...analysis.spike_count import count_spikes_per_step
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


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 over the names, shapes, dtypes and bytes of ``model``'s state dict."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        digest.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def _load_tallies(path: Path | None, key: dict[str, Any]) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    try:
        saved = torch.load(path, weights_only=True)
    except Exception:  # a torn or foreign file: start over (it is rewritten atomically)
        return None
    return saved if isinstance(saved, dict) and saved.get("key") == key else None


def _save_tallies(path: Path, tallies: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(tallies, tmp)
    os.replace(tmp, path)  # atomic: an interrupt leaves the old file or the new one


@torch.no_grad()
def accuracy_vs_timesteps(
    snn: ConvertedSNN,
    dataset: Dataset,
    timesteps: Sequence[int] = DEFAULT_TIMESTEPS,
    batch_size: int = 32,
    chunk: int = 4,
    limit: int | None = None,
    progress: bool = False,
    resume: str | Path | None = None,
) -> dict[int, dict[str, float]]:
    """``{T: {"accuracy", "firing_rate"}}`` for every T, from one run of ``max(T)`` steps.

    The network runs ``chunk`` steps of ``batch_size`` samples at a time; the result does
    not depend on either. Small pieces keep the activations in cache: on one idle CPU
    core 32 × 4 took 0.70× the time of 256 × 32 and 64 × 8 0.89× (a converted VGG-small,
    512 images to T = 32; `spikeforge bench evaluation`, benchmarks/results/evaluation.md).

    ``firing_rate``: spikes of all converted layers over the first T steps divided by
    ``T × samples × neurons``. ``progress``: report progress over the batches (a bar on a
    terminal, periodic lines otherwise; see :func:`spikeforge._progress.progress`).
    ``resume``: a file that holds the tallies after every batch (written atomically); a
    sweep started again with the same file, model and settings skips the batches already
    counted and gives the same result as an uninterrupted one.
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
        per_step = count_spikes_per_step(spikes)
        offset = counting["offset"]
        spikes_per_step[offset : offset + len(per_step)] += per_step
        if counting.get("first"):
            neurons_per_sample += spikes[0, 0].numel()

    path = None if resume is None else Path(resume)
    key: dict[str, Any] = {}
    if path is not None:
        key = {"model": model_fingerprint(snn), "timesteps": steps_wanted,
               "batch_size": batch_size, "chunk": chunk, "limit": limit,
               "samples": len(dataset)}  # fmt: skip
    saved = _load_tallies(path, key)
    done_batches = 0
    if saved is not None:
        done_batches, total = saved["batches"], saved["total"]
        correct = {int(t): int(n) for t, n in saved["correct"].items()}
        spikes_per_step = saved["spikes_per_step"]
        neurons_per_sample = saved["neurons_per_sample"]
    neurons = [m for m in snn.modules() if isinstance(m, ConvertedIF)]
    handles = [neuron.register_forward_hook(hook) for neuron in neurons]
    flags = {m: m.training for m in snn.modules()}
    snn.eval()
    samples = len(dataset) if limit is None else min(limit, len(dataset))
    batches = progress_display(
        _batches(dataset, batch_size, limit),
        f"conversion T<={horizon}",
        total=-(-samples // batch_size),
        enabled=progress,
    )
    try:
        for batch_index, (x, y) in enumerate(batches):
            if batch_index < done_batches:
                continue  # counted before the interruption
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
            if path is not None:
                _save_tallies(path, {
                    "key": key, "batches": batch_index + 1, "total": total,
                    "correct": {str(k): v for k, v in correct.items()},
                    "spikes_per_step": spikes_per_step,
                    "neurons_per_sample": neurons_per_sample,
                })  # fmt: skip
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


def calibration_inputs(dataset: Any, samples: int) -> torch.Tensor:
    """``samples`` inputs of a static dataset (a seeded random subset, so a class-sorted
    dataset still calibrates on every class), stacked ``[N, ...]``."""
    if getattr(dataset, "temporal", False):
        raise ValueError("conversion calibrates on static samples; this dataset is temporal")
    count = min(int(samples), len(dataset))
    if count < 1:
        raise ValueError(f"calibration_samples must be >= 1, got {samples}")
    return torch.stack([dataset[int(i)][0] for i in sample_indices(len(dataset), count)])
