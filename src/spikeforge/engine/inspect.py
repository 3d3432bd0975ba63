"""What a finished run holds: energy per inference and the HTML report of a run directory."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
import yaml

from ..analysis import (
    ActivityMonitor,
    EnergyReport,
    count_operations,
    estimate_energy,
    write_report,
)
from ..data import sample_indices
from ..methods.ann import ANNMethod
from .build import build_decoder, decoder_name
from .checkpoint import load_checkpoint, load_model_state
from .config import config_from_dict
from .run import make_trainer
from .trainer import Trainer


def trainer_from_checkpoint(path: str | Path) -> Trainer:
    """Rebuild the run's trainer from the config a checkpoint carries, with its weights."""
    payload = load_checkpoint(path)
    trainer = make_trainer(config_from_dict(payload["config"]), Path(path).parent, evaluation=True)
    load_model_state(trainer.model, payload["model"], str(path))
    trainer.model.eval()
    return trainer


def test_batch(trainer: Trainer, size: int) -> torch.Tensor:
    """The first ``size`` test samples, encoded to ``[T, B, ...]`` (seeded)."""
    indices = sample_indices(len(trainer.test_set), size)
    x, _ = trainer._load(trainer.test_set, indices)
    return trainer.encode(x, torch.Generator().manual_seed(trainer.config.train.seed))


@dataclass(frozen=True)
class DecodedEnergyReport(EnergyReport):
    """An :class:`~spikeforge.analysis.EnergyReport` with the accuracy of the same test
    samples, scored by the run's decoder (``model.decoder``, or the objective's own
    readout): the energy per inference and what it buys, from one set of inputs."""

    decoder: str = ""
    accuracy: float = float("nan")
    samples: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.update(decoder=self.decoder, accuracy=self.accuracy, samples=self.samples)
        return data

    def table(self) -> str:
        return (
            f"{super().table()}\naccuracy {self.accuracy:.4f} on these {self.samples} test "
            f"samples (decoder: {self.decoder})"
        )


def as_run(trainer: Trainer, inputs: torch.Tensor) -> torch.Tensor:
    """The input the run's model sees in one inference: an ANN (``train.method=ann``) gets
    ``inputs.mean(0)`` once, counted as ``[1, B, ...]`` (its energy table then has every op
    a MAC, ANN/SNN = 1 and no SpikingBERT ratio); an SNN gets all ``T`` steps."""
    return inputs.mean(0, keepdim=True) if isinstance(trainer.method, ANNMethod) else inputs


def checkpoint_energy(
    path: str | Path, samples: int = 256, preset: str = "45nm"
) -> DecodedEnergyReport:
    """Operations and energy per inference of a checkpoint's model on real test inputs,
    with the accuracy the run's decoder gives on those inputs."""
    trainer = trainer_from_checkpoint(path)
    indices = sample_indices(len(trainer.test_set), samples)
    x, labels = trainer._load(trainer.test_set, indices)
    # the inputs of test_batch: the same draw, encoded with the same seed
    inputs = trainer.encode(x, torch.Generator().manual_seed(trainer.config.train.seed))
    counts = count_operations(trainer.model, as_run(trainer, inputs))
    report = estimate_energy(counts, preset=preset)
    decoder = build_decoder(trainer.config, trainer.model, trainer.method)
    labels = labels.to(trainer.device)
    with torch.no_grad():
        outputs = trainer.method(trainer.model, inputs, labels)["output"]
    correct = int((decoder.predict(outputs) == labels).sum())
    return DecodedEnergyReport(
        **{f.name: getattr(report, f.name) for f in fields(EnergyReport)},
        decoder=decoder_name(trainer.config),
        accuracy=correct / max(1, len(labels)),
        samples=len(labels),
    )


def write_run_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` for a run directory (curves, rates, rasters, energy)."""
    run_dir = Path(run_dir)
    if not (run_dir / "last.pt").is_file():
        raise FileNotFoundError(f"{run_dir} holds no run (no last.pt); expected a run directory")
    checkpoint = run_dir / "best.pt" if (run_dir / "best.pt").is_file() else run_dir / "last.pt"
    trainer = trainer_from_checkpoint(checkpoint)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    inputs = test_batch(trainer, 256)
    monitor = ActivityMonitor(trainer.model)
    with torch.no_grad(), monitor.record():
        trainer.model(inputs)
    energy = estimate_energy(count_operations(trainer.model, as_run(trainer, inputs)))
    data: dict[str, Any] = {
        "title": f"spikeforge run {run_dir.name}",
        "meta": {
            "dataset": config["data"]["name"],
            "model": config["model"]["name"],
            "neuron": config["model"]["neuron"],
            "T": config["data"]["timesteps"],
            "best test accuracy": max(
                (r["test_acc"] for r in history if "test_acc" in r), default=float("nan")
            ),
            "checkpoint": checkpoint.name,
        },
        "curves": [
            {"epoch": r["epoch"], "loss": r.get("test_loss"), "acc": r.get("test_acc")}
            for r in history
        ],
        "firing_rates": monitor.summary(),
        "rasters": {name: monitor.raster(name) for name, _ in monitor.layers},
        "traces": {name: monitor.membrane(name) for name, _ in monitor.layers},
        "energy": energy,
    }
    out = Path(out) if out is not None else run_dir / "report.html"
    write_report(out, data)
    return out
