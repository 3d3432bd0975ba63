"""The teacher side of a run: distillation methods built from a config.

A method with ``needs_teacher`` (``kd``, ``feature_kd``, ``lasnn``) trains the configured
SNN (any model, any neuron) against a frozen ANN teacher named by the ``distill``
section; the pipelines reach a teacher the same way::

    distill:
      teacher: runs/digits-resnet/last.pt   # an ANN run (train.method=ann), same dataset
      pairs: [[blocks.0.bn2, layer1], [blocks.1.bn2, layer2]]   # feature_kd / lasnn
      options: {beta: 1.0}                  # the method's own options

Feature KD's adapters are sized by one probe forward of both networks on a few encoded
training samples (:meth:`~spikeforge.methods.Method.prepare`, given :func:`probe_inputs`),
before the optimiser exists, so a resumed run rebuilds the same adapters and loads their
trained weights from the checkpoint. Its margins come from the teacher's responses to a
seeded sample of training images, so every process of a multi-process run uses the same
ones.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from ..data import time_major_collate
from ..data.loader import sample_indices
from ..methods import METHODS
from .build import build_encoder
from .config import Config
from .pretrained import load_ann


def method_class(config: Config) -> type:
    """The class registered as ``train.method`` (what it needs is on its attributes)."""
    return METHODS.get(config.train.method)


def check_method_model(config: Config) -> None:
    """``model.name`` is one the method can train (its ``models``; empty: any), else a
    ``ValueError`` naming both: a pipeline builds every stage's config first, so a
    mismatch fails before the first stage trains, not hours later at the first batch."""
    allowed = method_class(config).models
    if allowed and config.model.name not in allowed:
        raise ValueError(
            f"train.method={config.train.method} trains model.name in {list(allowed)}, got "
            f"model.name={config.model.name}"
            + (
                " (a converted SNN is model.name=converted with "
                "model.kwargs.checkpoint=<ANN checkpoint>; train any other SNN with "
                "train.method=bptt)"
                if "converted" in allowed
                else ""
            )
        )


def teacher_methods() -> list[str]:
    """Registered methods that take a frozen ANN teacher (``needs_teacher``)."""
    return [n for n in METHODS.names() if getattr(METHODS.get(n), "needs_teacher", False)]


def check_distill_section(config: Config) -> None:
    """A teacher method needs its ``distill`` entries; other methods ignore the section
    (with a warning, so that a forgotten ``train.method`` does not pass unnoticed)."""
    d, method = config.distill, config.train.method
    cls = method_class(config)
    if cls.needs_teacher:
        if not d.teacher:
            raise ValueError(
                f"train.method={method} needs distill.teacher: the last.pt of an ANN run "
                "(spikeforge train with train.method=ann) on the same dataset"
            )
        if cls.needs_pairs and not d.pairs:
            raise ValueError(
                f"train.method={method} needs distill.pairs: [[teacher layer, student layer], "
                "...] (names as in model.named_modules())"
            )
        if not cls.needs_pairs and d.pairs:
            raise ValueError(
                f"train.method={method} distills the logits only; remove distill.pairs"
            )
    elif d.teacher or d.pairs or d.options:
        # a warning, not an error: `train.method=bptt` on a distillation config is the
        # natural no-teacher baseline of an ablation
        warnings.warn(
            f"the distill section is ignored: train.method={method} uses no teacher "
            f"(the methods that do: {', '.join(teacher_methods())})",
            stacklevel=2,
        )


def load_teacher(config: Config) -> nn.Module:
    """The frozen-to-be ANN of ``distill.teacher``, checked against this run's dataset."""
    path = str(config.distill.teacher)
    teacher, teacher_config, _, _ = load_ann(path)
    ours, theirs = config.data.name, teacher_config.data.name
    if theirs != ours:
        raise ValueError(
            f"distill.teacher {path!r} was trained on {theirs!r}, but this run trains on "
            f"{ours!r}: distill from a teacher of the same dataset"
        )
    return teacher


def probe_inputs(config: Config, dataset: Dataset, count: int) -> torch.Tensor:
    """``count`` training samples (a draw seeded by ``train.seed``), encoded as the trainer
    encodes them: ``[T, count, ...]``."""
    temporal = bool(getattr(dataset, "temporal", False))
    indices = sample_indices(len(dataset), count, seed=config.train.seed)
    x, _ = time_major_collate([dataset[int(i)] for i in indices], temporal=temporal)
    encoder = build_encoder(config)
    if encoder is None:
        return x
    return encoder(x, generator=torch.Generator().manual_seed(config.train.seed))


def teacher_method_options(config: Config) -> dict[str, Any]:
    """``teacher``, ``pairs`` and ``distill.options`` for a ``needs_teacher`` method."""
    check_distill_section(config)
    d = config.distill
    options: dict[str, Any] = {**d.options, "teacher": load_teacher(config)}
    if method_class(config).needs_pairs:
        options["pairs"] = [tuple(p) for p in d.pairs]
    return options
