"""Build the pieces of a run from a :class:`~spikeforge.engine.config.Config`."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.data import Dataset

from ..data import load_dataset
from ..encoding import ENCODERS
from ..models import create
from .config import Config


def build_datasets(config: Config) -> tuple[Dataset, Dataset]:
    """``(train, test)`` datasets named by ``config.data``."""
    d = config.data
    return tuple(  # type: ignore[return-value]
        load_dataset(d.name, split, d.data_dir, **d.options) for split in ("train", "test")
    )


def num_classes_of(dataset: Dataset) -> int:
    classes = getattr(dataset, "classes", None)
    if classes:
        return len(classes)
    return int(torch.as_tensor(dataset.labels).max()) + 1  # type: ignore[attr-defined]


def build_model(config: Config, dataset: Dataset) -> nn.Module:
    """The registered model, sized from a sample of ``dataset``."""
    m = config.model
    sample, _ = dataset[0]
    kwargs = dict(m.kwargs)
    static = not getattr(dataset, "temporal", False)
    shape = sample.shape if static else sample.shape[1:]  # drop T of temporal samples
    if len(shape) == 3:  # images [C, H, W]: size the model from the data
        kwargs.setdefault("in_channels", int(shape[0]))
        kwargs.setdefault("input_size", int(shape[-1]))
    return create(
        m.name,
        num_classes=num_classes_of(dataset),
        neuron=m.neuron,
        surrogate=m.surrogate,
        neuron_kwargs=dict(m.neuron_kwargs),
        **kwargs,
    )


def build_encoder(config: Config) -> nn.Module | None:
    """``data.encoder`` with its options (``None`` for ``"none"``): ``[B, ...]`` ->
    ``[T, B, ...]``."""
    d = config.data
    if d.encoder == "none":
        return None
    return ENCODERS.create(d.encoder, timesteps=d.timesteps, **d.encoder_options)


def build_optimizer(config: Config, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    o = config.optim
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.name == "sgd":
        return torch.optim.SGD(
            params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, nesterov=True
        )
    raise ValueError(f"optim.name must be 'adamw' or 'sgd', got {o.name!r}")


def build_schedule(
    config: Config, optimizer: torch.optim.Optimizer, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step schedule: linear warm-up, then cosine decay to 0 (or constant)."""
    o = config.optim
    if o.schedule not in ("cosine", "constant"):
        raise ValueError(f"optim.schedule must be 'cosine' or 'constant', got {o.schedule!r}")
    total = max(1, config.train.epochs * steps_per_epoch)
    warmup = int(o.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if o.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
