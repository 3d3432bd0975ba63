"""Experiment configuration: typed sections, YAML files, nested ``key=value`` overrides.

Resolution (OmegaConf structured configs over the dataclasses below): the defaults, then
a YAML file, then command-line overrides, each *merged* into what came before — a dict
value such as ``"model.kwargs={checkpoint: x.pt}"`` adds to the file's ``model.kwargs``
instead of replacing it, and nested keys (``model.kwargs.checkpoint=x.pt``) reach inside.
Every value is checked against its declared type (``train.epochs=abc`` is refused with
one line naming the key, the expected type and the value) and against its range or
choices where the field declares them (:func:`bounded`: ``train.epochs=0``,
``optim.grad_clip=-1``, ``train.device=tpu`` are refused the same way), and unknown
sections or keys are rejected with the valid ones listed, so a typo never silently trains
with a default.

:func:`load_structured` does the same for any dataclass schema (the pipelines use it).
Configs shipped with the package are found by name (:func:`find_config`).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

S = TypeVar("S")


def bounded(
    default: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    below: float | None = None,
    choices: tuple[str, ...] | None = None,
    pattern: str | None = None,
) -> Any:
    """A dataclass field whose value :func:`check_ranges` checks at load: ``low <= v``,
    ``v <= high``, ``above < v``, ``v < below``, ``v in choices`` or a full match of
    ``pattern`` (``None`` always passes: optional settings)."""
    limits = {"low": low, "high": high, "above": above, "below": below}
    meta = {k: v for k, v in limits.items() if v is not None}
    if choices is not None:
        meta["choices"] = choices
    if pattern is not None:
        meta["pattern"] = pattern
    return field(default=default, metadata={"check": meta})


def _violation(value: Any, check: dict[str, Any]) -> str | None:
    if value is None:
        return None
    if "choices" in check and value not in check["choices"]:
        return f"one of {', '.join(check['choices'])}"
    if "pattern" in check and not re.fullmatch(check["pattern"], str(value)):
        return f"one of {check['pattern'].replace('|', ', ')}"
    bounds = [
        ("low", ">=", lambda v, b: v >= b),
        ("above", ">", lambda v, b: v > b),
        ("high", "<=", lambda v, b: v <= b),
        ("below", "<", lambda v, b: v < b),
    ]
    for key, _, holds in bounds:
        if key in check and not (isinstance(value, int | float) and holds(value, check[key])):
            wanted = [f"{s} {check[k]:g}" for k, s, _ in bounds if k in check]
            return " and ".join(wanted)
    return None


def check_ranges(config: Any, where: str = "") -> None:
    """Walk a loaded dataclass config; raise ``ValueError`` naming the first key whose
    value breaks its :func:`bounded` limits (``config key train.epochs must be >= 1, got
    0``)."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        key = f"{where}.{f.name}" if where else f.name
        if dataclasses.is_dataclass(value):
            check_ranges(value, key)
            continue
        check = f.metadata.get("check")
        if check:
            wanted = _violation(value, check)
            if wanted is not None:
                raise ValueError(f"config key {key} must be {wanted}, got {value!r}")


DEVICE_PATTERN = r"auto|cpu|mps|cuda|cuda:\d+"


@dataclass
class AugmentConfig:
    """Training-time augmentation of static image batches ``[B, C, H, W]`` before encoding
    (:class:`~spikeforge.data.augment.ImageAugment`); refused for non-image data."""

    # random H×W crop after zero padding by this many pixels on every side; 0: no crop
    crop_padding: int = bounded(0, low=0)
    flip: bool = False  # random horizontal flip (probability 1/2)


@dataclass
class DataConfig:
    """Which dataset, how it is batched and encoded into ``[T, B, ...]``."""

    name: str = "digits"
    data_dir: str | None = None
    batch_size: int = bounded(64, low=1)
    eval_batch_size: int = bounded(512, low=1)
    timesteps: int = bounded(4, low=1)
    encoder: str = "direct"  # "none" for datasets that already yield [T, ...]
    encoder_options: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # dataset-specific
    # training batches only (never evaluation, calibration or teacher inputs of their own)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class ModelConfig:
    """A registered model with its neuron injected by name."""

    name: str = "csnn_tiny"
    neuron: str = "lif"
    # a registered surrogate's name, or a mapping {name: atan, alpha: 4, ...} with its
    # options; null: neuron_kwargs.surrogate if given, else atan
    surrogate: Any = None
    neuron_kwargs: dict[str, Any] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)  # model-specific
    # how outputs [T, B, C] become class scores for accuracy, eval and energy (None: the
    # objective's own readout); see spikeforge list decoders
    decoder: str | None = None
    decoder_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """Optimiser, schedule and gradient handling."""

    name: str = bounded("adamw", choices=("adamw", "sgd"))
    lr: float = bounded(5e-3, low=0)
    weight_decay: float = bounded(1e-4, low=0)
    momentum: float = bounded(0.9, low=0, below=1)
    schedule: str = bounded("cosine", choices=("cosine", "constant"))
    warmup_epochs: float = bounded(0.0, low=0)
    grad_clip: float | None = bounded(None, above=0)  # max gradient norm; null: no clipping
    label_smoothing: float = bounded(0.0, low=0, below=1)


@dataclass
class TrainConfig:
    """Loop, method, run directory and bookkeeping."""

    epochs: int = bounded(15, low=1)
    seed: int = bounded(0, low=0)
    method: str = "bptt"
    method_options: dict[str, Any] = field(default_factory=dict)  # e.g. sltt: {k: 2}
    objective: str = "ce_membrane"
    # firing-rate regularizers added to the loss: [{name: l1_rate, weight: 1e-3, layers: [...]}]
    regularizers: list[dict[str, Any]] = field(default_factory=list)
    run_dir: str = "runs"
    run_name: str | None = None
    # steps between mid-epoch checkpoints; 0 = epoch ends only
    checkpoint_every: int = bounded(0, low=0)
    early_stopping_patience: int | None = bounded(None, low=1)  # counted in evaluations
    # evaluate the test set after every N-th epoch and after the last (a checkpoint is
    # written after every epoch regardless); training itself does not depend on it
    eval_every: int = bounded(1, low=1)
    # "auto" (CUDA when available) | "cpu" | "cuda" | "cuda:1" ...
    device: str = bounded("auto", pattern=DEVICE_PATTERN)
    amp: bool = False  # CUDA only
    deterministic: bool = True
    progress: bool = True  # progress bars on a terminal, periodic lines otherwise
    tensorboard: bool = True  # also log to RUN_DIR/tensorboard when tensorboard is installed
    # stop after this many optimiser steps (tests, smoke runs)
    max_steps: int | None = bounded(None, low=0)
    # what the forward of a training step keeps for backward, gradients bit-identical in
    # all three: full (plain autograd), compact (spikes kept as bits, batch-norm outputs
    # not kept but rebuilt in backward; layers/memory.py), checkpoint (compact, and each
    # block recomputed in backward from its input: layers/recompute.py; not with methods
    # that backpropagate themselves, e.g. sltt)
    memory: str = bounded("compact", choices=("full", "compact", "checkpoint"))


@dataclass
class DistillConfig:
    """The teacher of a method that distills (``kd``, ``feature_kd``, ``lasnn``)."""

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


# -- typed merging ---------------------------------------------------------------------
def _type_name(annotation: Any) -> str:
    """``int | None`` -> ``"int or null"``; ``dict[str, Any]`` -> ``"mapping"``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in typing.get_args(annotation)]
        return " or ".join("null" if n == "NoneType" else n for n in names)
    if origin is dict or annotation is dict:
        return "mapping"
    if origin is list or annotation is list:
        return "list"
    if dataclasses.is_dataclass(annotation):
        return "mapping (section)"
    return getattr(annotation, "__name__", str(annotation))


def _one_line(error: OmegaConfBaseException, where: str) -> str:
    """OmegaConf's multi-line error as one line naming key, expected type and value."""
    prefix = f"{where}." if where else ""
    key = getattr(error, "full_key", None)
    owner = getattr(error, "object_type", None)
    leaf = str(getattr(error, "key", "") or "")
    if isinstance(error, ConfigKeyError) and key:
        parent = key.rsplit(".", 1)[0] if "." in key else ""
        valid = ""
        if owner is not None and dataclasses.is_dataclass(owner):
            names = ", ".join(f.name for f in dataclasses.fields(owner))
            valid = f"; valid keys of {prefix}{parent}: {names}" if parent else f"; valid: {names}"
        sectioned = (
            owner is not None
            and dataclasses.is_dataclass(owner)
            and all(dataclasses.is_dataclass(h) for h in typing.get_type_hints(owner).values())
        )
        kind = "section" if not parent and sectioned else "key"
        return f"unknown config {kind} {prefix}{key}{valid}"
    if key and owner is not None and dataclasses.is_dataclass(owner):
        hints = typing.get_type_hints(owner)
        if leaf in hints:
            value = getattr(error, "value", None)
            return (
                f"config key {prefix}{key} expects {_type_name(hints[leaf])}, "
                f"got {value!r} ({type(value).__name__})"
            )
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"config {prefix + key if key else where or 'value'}: {first}"


def _as_mapping(data: Any, what: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TypeError(f"{what} must be a mapping of sections, got {type(data).__name__}")
    return data


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["optim.lr=0.01", "model.kwargs.checkpoint=x.pt"]`` -> nested dict (YAML values;
    ``key=`` is null)."""
    for text in overrides:
        if "=" not in text or text.startswith("="):
            raise ValueError(f"override must look like section.key=value, got {text!r}")
    try:
        return typing.cast(dict, OmegaConf.to_container(OmegaConf.from_dotlist(list(overrides))))
    except OmegaConfBaseException as error:
        raise ValueError(f"cannot parse overrides {list(overrides)}: {error}") from None


def _reset(merged: Any, schema: type, key: str) -> Any:
    """``~key``: back to the schema's default (a key the schema does not declare, inside
    a free-form dict, is removed)."""
    if OmegaConf.select(merged, key, default="<absent>") == "<absent>":
        raise ValueError(f"~{key}: there is no config key {key} to reset")
    default = OmegaConf.select(OmegaConf.structured(schema), key, default="<undeclared>")
    if default != "<undeclared>":
        OmegaConf.update(merged, key, default, merge=False)
        return merged
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(merged, parent) if parent else merged
    del node[leaf]
    return merged


def load_structured(
    schema: type[S],
    *layers: dict[str, Any] | None,
    overrides: list[str] | tuple[str, ...] = (),
    where: str = "",
) -> S:
    """``schema``'s defaults, then each layer (nested dicts), then dotted ``overrides``,
    merged and type-checked; returns a ``schema`` instance.

    Overrides apply in order: ``key=value`` merges (a dict value into the dict there),
    ``~key`` resets the key to its default first, so ``~model.neuron_kwargs
    "model.neuron_kwargs={T: 4}"`` replaces the file's dict instead of merging into it.
    Raises ``ValueError`` (unknown key, wrong type) with one line naming the key.
    """
    try:
        merged = OmegaConf.structured(schema)
        for layer in layers:
            if layer:
                merged = OmegaConf.merge(merged, _as_mapping(layer, where or "config"))
        pending: list[str] = []
        for text in [*overrides, None]:
            if text is None or text.startswith("~"):
                if pending:
                    merged = OmegaConf.merge(merged, parse_overrides(pending))
                    pending = []
                if text is not None:
                    merged = _reset(merged, schema, text[1:])
            else:
                pending.append(text)
        loaded = typing.cast(S, OmegaConf.to_object(merged))
    except OmegaConfBaseException as error:
        raise ValueError(_one_line(error, where)) from None
    check_ranges(loaded, where)
    return loaded


def config_from_dict(data: dict[str, Any] | None, where: str = "") -> Config:
    """Build a :class:`Config` from nested dicts, rejecting unknown keys and wrong types."""
    return load_structured(Config, _as_mapping(data, "config"), where=where)


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """``config`` with ``section.key=value`` overrides merged in (a new object)."""
    return load_structured(Config, config.to_dict(), overrides=list(overrides))


# -- files -----------------------------------------------------------------------------
def shipped_configs() -> list[str]:
    """Names of the configs that ship with the package (``spikeforge/configs/*.yaml``)."""
    root = resources.files("spikeforge") / "configs"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def find_config(name_or_path: str | Path) -> Path:
    """A config file: an existing path, else a shipped config by name (``digits_csnn``,
    with or without ``.yaml``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    name = path.name[:-5] if path.name.endswith(".yaml") else path.name
    shipped = resources.files("spikeforge") / "configs" / f"{name}.yaml"
    if (len(path.parts) == 1 or path.parts[0] == "configs") and shipped.is_file():
        return Path(str(shipped))
    raise FileNotFoundError(
        f"config file {str(name_or_path)!r} does not exist and is not a shipped config "
        f"(shipped: {', '.join(shipped_configs())})"
    )


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file's top-level mapping (empty file: ``{}``)."""
    with Path(path).open() as f:
        data = yaml.safe_load(f)
    return _as_mapping(data, f"config file {str(path)!r}")


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (a path or a shipped config's name; ``None``: defaults) and
    merge the overrides."""
    data = read_yaml(find_config(path)) if path is not None else {}
    return load_structured(Config, data, overrides=list(overrides or []))
