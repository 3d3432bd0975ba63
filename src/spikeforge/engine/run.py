"""Config -> trained run: the function behind ``spikeforge train`` and the demo."""

from __future__ import annotations

import itertools
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from .build import build_datasets, build_model
from .checkpoint import load_checkpoint, load_model_state
from .config import Config, apply_overrides, config_from_dict, load_config
from .distill import check_method_model
from .distributed import explained_failures, init_from_env, shutdown
from .method import build_method
from .trainer import Trainer


def run_directory(config: Config) -> Path:
    """``train.run_dir / (run_name or <dataset>-<model>-<timestamp>)`` (not created)."""
    name = config.train.run_name or (
        f"{config.data.name}-{config.model.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    return Path(config.train.run_dir) / name


def claim_run_directory(config: Config, overwrite: bool = False) -> Path:
    """Create this run's directory, never reusing one that holds anything.

    A timestamped default name that is taken (two runs started in the same second) gets
    ``-2``, ``-3``, ... — each directory is created atomically, so two processes never
    share one. A named directory (``train.run_name``) that exists and is not empty is
    refused (continue it with ``--resume``) unless ``overwrite``, which deletes it first.
    """
    path = run_directory(config)
    if config.train.run_name is None:
        stem = path
        for attempt in itertools.count(1):
            path = stem if attempt == 1 else stem.with_name(f"{stem.name}-{attempt}")
            try:
                path.mkdir(parents=True, exist_ok=False)
                return path
            except FileExistsError:
                continue
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        if not overwrite:
            held = sorted(p.name for p in path.iterdir())[:6] if path.is_dir() else []
            raise FileExistsError(
                f"{path} already holds a run ({', '.join(held) or 'a file'}); continue it "
                f"with --resume {path}, replace it with --overwrite, or choose another "
                "train.run_name"
            )
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    path.mkdir(parents=True, exist_ok=True)
    return path


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
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(
            f"train.device={name!r} but this machine has {torch.cuda.device_count()} CUDA devices"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"train.device={name!r} but MPS is not available; use cpu or auto")
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
    check_method_model(config)  # before data and model: the cheapest mistake to name
    torch.manual_seed(config.train.seed)
    train_set, test_set = datasets if datasets is not None else build_datasets(config)
    model = build_model(config, train_set)
    method = build_method(config, evaluation, model, train_set)
    return Trainer(config, model, method, train_set, test_set, run_dir, resolve_device(config))


def _fit_and_leave(trainer: Trainer, resume: bool) -> dict[str, Any]:
    """``trainer.fit``, then leave the process group (without waiting for the others
    when the run failed: they may never arrive)."""
    try:
        final = trainer.fit(resume=resume)
    except BaseException:
        shutdown(trainer.dist, barrier=False)
        raise
    shutdown(trainer.dist)
    return final


def _shared_run_directory(config: Config, overwrite: bool) -> Path:
    """One run directory for all ranks: rank 0 claims it and broadcasts the name."""
    info = init_from_env(resolve_device(config))
    names = [str(claim_run_directory(config, overwrite)) if info.is_main else ""]
    if info.enabled:
        torch.distributed.broadcast_object_list(names, src=0)
    return Path(names[0])


def train(
    config: Config, run_dir: Path | None = None, overwrite: bool = False
) -> tuple[Trainer, dict[str, Any]]:
    """Train from scratch into ``run_dir`` (default: a fresh directory from
    :func:`claim_run_directory`; ``overwrite`` replaces a named one that exists)."""
    with explained_failures():
        if run_dir is None:
            run_dir = _shared_run_directory(config, overwrite)
        elif (run_dir / "last.pt").exists():
            raise FileExistsError(
                f"{run_dir} already holds a run; continue it with --resume {run_dir} "
                "or choose another directory"
            )
        try:
            trainer = make_trainer(config, run_dir)
        except BaseException:
            if run_dir.is_dir() and not any(run_dir.iterdir()):
                run_dir.rmdir()  # the run never started: leave no empty directory behind
            raise
        return trainer, _fit_and_leave(trainer, resume=False)


def resume(
    run_dir: str | Path, overrides: list[str] | None = None
) -> tuple[Trainer, dict[str, Any]]:
    """Continue the run in ``run_dir`` from its ``last.pt`` with its saved config."""
    run_dir = Path(run_dir)
    for needed in ("config.yaml", "last.pt"):
        if not (run_dir / needed).is_file():
            raise FileNotFoundError(
                f"cannot resume {run_dir}: it has no {needed} (a run directory of "
                "spikeforge train holds config.yaml and last.pt)"
            )
    config = load_config(run_dir / "config.yaml", overrides)
    with explained_failures():
        trainer = make_trainer(config, run_dir)
        return trainer, _fit_and_leave(trainer, resume=True)


def evaluate_checkpoint(path: str | Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Test metrics of the model in a checkpoint, rebuilt from the config it carries."""
    payload = load_checkpoint(path)
    config = config_from_dict(payload["config"])
    config = apply_overrides(config, list(overrides or []))
    trainer = make_trainer(config, Path(path).parent, evaluation=True)
    load_model_state(trainer.model, payload["model"], str(path))
    return trainer.evaluate(trainer.test_set)
