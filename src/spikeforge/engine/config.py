"""Experiment configuration: typed sections, YAML files, ``key=value`` overrides.

Two-stage resolution (as timm's ``train.py``): a YAML file fills the sections, then
command-line overrides ``section.key=value`` (values parsed as YAML scalars/lists)
replace single keys. Unknown sections or keys are rejected with the valid ones listed,
so a typo never silently trains with a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class DataConfig:
    """Which dataset, how it is batched and encoded into ``[T, B, ...]``."""

    name: str = "digits"
    data_dir: str | None = None
    batch_size: int = 64
    eval_batch_size: int = 512
    timesteps: int = 4
    encoder: str = "direct"  # "none" for datasets that already yield [T, ...]
    encoder_options: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # dataset-specific


@dataclass
class ModelConfig:
    """A registered model with its neuron injected by name."""

    name: str = "csnn_tiny"
    neuron: str = "lif"
    surrogate: str = "atan"
    neuron_kwargs: dict[str, Any] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)  # model-specific


@dataclass
class OptimConfig:
    """Optimiser, schedule and gradient handling."""

    name: str = "adamw"  # "adamw" | "sgd"
    lr: float = 5e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    schedule: str = "cosine"  # "cosine" | "constant"
    warmup_epochs: float = 0.0
    grad_clip: float | None = None
    label_smoothing: float = 0.0


@dataclass
class TrainConfig:
    """Loop, method, run directory and bookkeeping."""

    epochs: int = 15
    seed: int = 0
    method: str = "bptt"
    method_options: dict[str, Any] = field(default_factory=dict)  # e.g. sltt: {k: 2}
    objective: str = "ce_membrane"
    run_dir: str = "runs"
    run_name: str | None = None
    checkpoint_every: int = 0  # steps between mid-epoch checkpoints; 0 = epoch ends only
    early_stopping_patience: int | None = None
    device: str = "auto"  # "auto" (CUDA when available) | "cpu" | "cuda" | "cuda:1" ...
    amp: bool = False  # CUDA only
    deterministic: bool = True
    progress: bool = True  # per-epoch lines; a live batch counter when stdout is a terminal
    tensorboard: bool = True  # also log to RUN_DIR/tensorboard when tensorboard is installed
    max_steps: int | None = None  # stop after this many optimiser steps (tests, smoke runs)


@dataclass
class DistillConfig:
    """The teacher of ``train.method`` ``kd``, ``feature_kd`` or ``lasnn``."""

    teacher: str | None = None  # checkpoint of an ANN run (train.method=ann) on the same data
    pairs: list[list[str]] = field(default_factory=list)  # [[teacher layer, student layer]]
    options: dict[str, Any] = field(default_factory=dict)  # the method's (tau, alpha, beta...)


@dataclass
class Config:
    """The whole experiment."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _field_names(section: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(section)]


def _set(section: Any, key: str, value: Any, where: str) -> None:
    names = _field_names(section)
    if key not in names:
        raise ValueError(
            f"unknown config key {where}.{key}; valid keys of {where}: {', '.join(names)}"
        )
    setattr(section, key, value)


def config_from_dict(data: dict[str, Any] | None) -> Config:
    """Build a :class:`Config` from nested dicts, rejecting unknown sections and keys."""
    config = Config()
    if not data:
        return config
    if not isinstance(data, dict):
        raise TypeError(f"config must be a mapping of sections, got {type(data).__name__}")
    sections = _field_names(config)
    for name, values in data.items():
        if name not in sections:
            raise ValueError(
                f"unknown config section {name!r}; valid sections: {', '.join(sections)}"
            )
        if not isinstance(values, dict):
            raise TypeError(
                f"config section {name!r} must be a mapping, got {type(values).__name__}"
            )
        for key, value in values.items():
            _set(getattr(config, name), key, value, name)
    return config


def parse_override(text: str) -> tuple[str, str, Any]:
    """``"optim.lr=0.01"`` -> ``("optim", "lr", 0.01)`` (value parsed as YAML)."""
    import yaml

    if "=" not in text:
        raise ValueError(f"override must look like section.key=value, got {text!r}")
    path, raw = text.split("=", 1)
    if path.count(".") != 1:
        raise ValueError(f"override key must be section.key (e.g. optim.lr), got {path!r}")
    section, key = path.split(".")
    return section, key, yaml.safe_load(raw) if raw != "" else None


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Apply ``section.key=value`` overrides in order."""
    sections = _field_names(config)
    for text in overrides:
        section, key, value = parse_override(text)
        if section not in sections:
            raise ValueError(
                f"unknown config section {section!r}; valid sections: {', '.join(sections)}"
            )
        _set(getattr(config, section), key, value, section)
    return config


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (or start from defaults) and apply overrides."""
    import yaml

    data: dict[str, Any] | None = None
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {str(path)!r} does not exist")
        with path.open() as f:
            data = yaml.safe_load(f)
    return apply_overrides(config_from_dict(data), list(overrides or []))
