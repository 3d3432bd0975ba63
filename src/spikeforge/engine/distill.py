"""The teacher side of ``spikeforge train``: distillation methods built from a config.

``train.method`` ``kd``, ``feature_kd`` or ``lasnn`` trains the configured SNN (any model,
any neuron) against a frozen ANN teacher named by the ``distill`` section::

    distill:
      teacher: runs/digits-resnet/last.pt   # an ANN run (train.method=ann), same dataset
      pairs: [[blocks.0.bn2, layer1], [blocks.1.bn2, layer2]]   # feature_kd / lasnn
      options: {beta: 1.0}                  # the method's own options

Feature KD's adapters are sized by one probe forward of both networks on a few encoded
training samples, from the seeded RNG, before the optimiser exists, so a resumed run
rebuilds the same adapters and loads their trained weights from the checkpoint. Its
margins come from the teacher's responses to a seeded sample of training images, so
every process of a multi-process run uses the same ones.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from ..data import time_major_collate
from ..data.loader import sample_indices
from ..methods import Method
from .build import build_encoder
from .config import Config

TEACHER_METHODS = ("kd", "feature_kd", "lasnn")  # need distill.teacher
PAIRED_METHODS = ("feature_kd", "lasnn")  # also need distill.pairs
PROBE_SAMPLES = 8  # to size the feature-KD adapters
CALIBRATION_SAMPLES = 256  # for the feature-KD margins


def check_distill_section(config: Config) -> None:
    """A teacher method needs its ``distill`` entries; other methods ignore the section
    (with a warning, so that a forgotten ``train.method`` does not pass unnoticed)."""
    d, method = config.distill, config.train.method
    if method in TEACHER_METHODS:
        if not d.teacher:
            raise ValueError(
                f"train.method={method} needs distill.teacher: the last.pt of an ANN run "
                "(spikeforge train with train.method=ann) on the same dataset"
            )
        if method in PAIRED_METHODS and not d.pairs:
            raise ValueError(
                f"train.method={method} needs distill.pairs: [[teacher layer, student layer], "
                "...] (names as in model.named_modules())"
            )
        if method == "kd" and d.pairs:
            raise ValueError("train.method=kd distills the logits only; remove distill.pairs")
    elif d.teacher or d.pairs or d.options:
        # a warning, not an error: `train.method=bptt` on a distillation config is the
        # natural no-teacher baseline of an ablation
        warnings.warn(
            f"the distill section is ignored: train.method={method} uses no teacher "
            f"(the methods that do: {', '.join(TEACHER_METHODS)})",
            stacklevel=2,
        )


def load_teacher(config: Config) -> nn.Module:
    """The frozen-to-be ANN of ``distill.teacher``, checked against this run's dataset."""
    from ..methods.hybrid import load_ann

    path = str(config.distill.teacher)
    teacher, teacher_config, _, _ = load_ann(path)
    ours, theirs = config.data.name, teacher_config.data.name
    if theirs != ours:
        raise ValueError(
            f"distill.teacher {path!r} was trained on {theirs!r}, but this run trains on "
            f"{ours!r}: distill from a teacher of the same dataset"
        )
    return teacher


def probe_inputs(config: Config, dataset: Dataset, count: int = PROBE_SAMPLES) -> torch.Tensor:
    """A few training samples, encoded as the trainer encodes them: ``[T, count, ...]``."""
    temporal = bool(getattr(dataset, "temporal", False))
    indices = sample_indices(len(dataset), count, seed=config.train.seed)
    x, _ = time_major_collate([dataset[int(i)] for i in indices], temporal=temporal)
    encoder = build_encoder(config)
    if encoder is None:
        return x
    return encoder(x, generator=torch.Generator().manual_seed(config.train.seed))


def build_teacher_method(config: Config, model: nn.Module, dataset: Dataset) -> Method:
    """``kd`` / ``feature_kd`` / ``lasnn`` with the teacher, pairs and options of
    ``config.distill``; feature KD's adapters are built against ``model``."""
    from ..methods.distill import FeatureKD, build_distillation

    check_distill_section(config)
    d = config.distill
    options: dict[str, Any] = {"objective": config.train.objective, **d.options}
    if config.optim.label_smoothing:
        options.setdefault("label_smoothing", config.optim.label_smoothing)
    pairs = [tuple(p) for p in d.pairs] if config.train.method in PAIRED_METHODS else None
    method = build_distillation(config.train.method, load_teacher(config), pairs, **options)
    if isinstance(method, FeatureKD):
        if not method.ready:
            method.setup(model, probe_inputs(config, dataset))
        # margins from a seeded sample, the same on every rank (else: each rank's first batch)
        calibration = probe_inputs(config, dataset, CALIBRATION_SAMPLES)
        method.calibrate(method.teacher_input(calibration))
    return method
