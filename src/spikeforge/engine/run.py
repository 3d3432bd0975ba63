"""Config -> trained run: the function behind ``spikeforge train`` and the demo."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from .build import build_datasets, build_model
from .checkpoint import load_checkpoint, load_model_state
from .config import Config, apply_overrides, config_from_dict, load_config
from .distributed import init_from_env, shutdown
from .method import build_method
from .trainer import Trainer


def run_directory(config: Config) -> Path:
    """``train.run_dir / (run_name or <dataset>-<model>-<timestamp>)``."""
    name = config.train.run_name or (
        f"{config.data.name}-{config.model.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    return Path(config.train.run_dir) / name


def resolve_device(config: Config) -> torch.device:
    """``train.device``; ``"auto"`` is this process's CUDA device when present, else CPU."""
    name = config.train.device
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device={name!r} but CUDA is not available; use cpu or auto")
    return device


def make_trainer(
    config: Config,
    run_dir: Path,
    evaluation: bool = False,
    datasets: tuple[Dataset, Dataset] | None = None,
) -> Trainer:
    """Seed, then build data, model and method (model init draws from the seeded RNG).

    ``evaluation=True``: for testing a checkpoint (see :func:`build_method`).
    ``datasets``: ``(train, test)`` already built from ``config.data`` (pipelines share
    them between stages).
    """
    torch.manual_seed(config.train.seed)
    train_set, test_set = datasets if datasets is not None else build_datasets(config)
    model = build_model(config, train_set)
    method = build_method(config, evaluation, model, train_set)
    return Trainer(config, model, method, train_set, test_set, run_dir, resolve_device(config))


def _shared_run_directory(config: Config) -> Path:
    """One run directory for all ranks: rank 0's timestamped name is broadcast."""
    info = init_from_env(resolve_device(config))
    names = [str(run_directory(config))]
    if info.enabled:
        torch.distributed.broadcast_object_list(names, src=0)
    return Path(names[0])


def train(config: Config, run_dir: Path | None = None) -> tuple[Trainer, dict[str, Any]]:
    """Train from scratch into ``run_dir`` (default: :func:`run_directory`)."""
    run_dir = run_dir or _shared_run_directory(config)
    if (run_dir / "last.pt").exists():
        raise FileExistsError(
            f"{run_dir} already holds a run; continue it with --resume {run_dir} "
            "or choose another train.run_name"
        )
    trainer = make_trainer(config, run_dir)
    try:
        return trainer, trainer.fit()
    finally:
        shutdown(trainer.dist)


def resume(
    run_dir: str | Path, overrides: list[str] | None = None
) -> tuple[Trainer, dict[str, Any]]:
    """Continue the run in ``run_dir`` from its ``last.pt`` with its saved config."""
    run_dir = Path(run_dir)
    config = load_config(run_dir / "config.yaml", overrides)
    trainer = make_trainer(config, run_dir)
    try:
        return trainer, trainer.fit(resume=True)
    finally:
        shutdown(trainer.dist)


def evaluate_checkpoint(path: str | Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Test metrics of the model in a checkpoint, rebuilt from the config it carries."""
    payload = load_checkpoint(path)
    config = config_from_dict(payload["config"])
    config = apply_overrides(config, list(overrides or []))
    trainer = make_trainer(config, Path(path).parent, evaluation=True)
    load_model_state(trainer.model, payload["model"], str(path))
    return trainer.evaluate(trainer.test_set)
