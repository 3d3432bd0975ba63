"""What a finished run holds: energy per inference and the HTML report of a run directory."""

from __future__ import annotations

import json
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


def checkpoint_energy(path: str | Path, samples: int = 256, preset: str = "45nm") -> EnergyReport:
    """Operations and energy per inference of a checkpoint's model on real test inputs."""
    trainer = trainer_from_checkpoint(path)
    counts = count_operations(trainer.model, test_batch(trainer, samples))
    return estimate_energy(counts, preset=preset)


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
    energy = estimate_energy(count_operations(trainer.model, inputs))
    data: dict[str, Any] = {
        "title": f"spikeforge run {run_dir.name}",
        "meta": {
            "dataset": config["data"]["name"],
            "model": config["model"]["name"],
            "neuron": config["model"]["neuron"],
            "T": config["data"]["timesteps"],
            "best test accuracy": max((r["test_acc"] for r in history), default=float("nan")),
            "checkpoint": checkpoint.name,
        },
        "curves": [
            {"epoch": r["epoch"], "loss": r["test_loss"], "acc": r["test_acc"]} for r in history
        ],
        "firing_rates": monitor.summary(),
        "rasters": {name: monitor.raster(name) for name, _ in monitor.layers},
        "traces": {name: monitor.membrane(name) for name, _ in monitor.layers},
        "energy": energy,
    }
    out = Path(out) if out is not None else run_dir / "report.html"
    write_report(out, data)
    return out
