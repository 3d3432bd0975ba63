r"""Hybrid training (METHODS §6): convert a trained ANN, then fine-tune the SNN by BPTT.

Two registered pieces, so a hybrid run is an ordinary config on the one Trainer:

- model ``converted``: the SNN converted from an ANN checkpoint of a ``train.method=ann``
  run (the checkpoint carries its config, so the ANN and its calibration data are
  rebuilt from it). Options (``model.kwargs``): ``checkpoint`` (required),
  ``calibration`` (``"percentile"``/``"max"``), ``percentile``, ``per_channel``,
  ``calibration_samples``, ``initial_membrane``, ``learn_threshold`` (trainable
  ``V_th``; default fixed), ``maxpool``. ``model.neuron`` replaces ReLU: ``if`` (the
  exact rate model, as in the configs) or ``lif``/``plif``; ``model.surrogate`` is its
  surrogate gradient for BPTT. Without a checkpoint, the ``ann`` twin is freshly
  initialised and converted uncalibrated (``V_th = 1``): a template, e.g. for shape
  checks or to load a converted state dict into.
- method ``hybrid``: surrogate BPTT with the configured objective on a converted model
  (``output.mean(0)`` = accumulated output membrane / T), at the small ``data.timesteps``.

Resuming works as for any run: the converted model is rebuilt deterministically from the
ANN checkpoint and the run's own checkpoint then overwrites its weights and thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import sample_indices
from ..models.registry import MODELS
from .base import METHODS
from .bptt import BPTT
from .conversion import ConvertedSNN, convert


@METHODS.register("hybrid")
class HybridMethod(BPTT):
    """Surrogate BPTT on a :class:`~spikeforge.methods.conversion.ConvertedSNN`.

    Args: as :class:`~spikeforge.methods.BPTT` (objective name and options).
    """

    def forward(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        if not isinstance(model, ConvertedSNN):
            raise TypeError(
                f"hybrid method fine-tunes a converted SNN (model.name=converted with "
                f"model.kwargs.checkpoint=<ANN checkpoint>), got {type(model).__name__}"
            )
        return super().forward(model, inputs, targets)


def calibration_inputs(dataset: Any, samples: int) -> torch.Tensor:
    """``samples`` inputs of a static dataset (a seeded random subset, so a class-sorted
    dataset still calibrates on every class), stacked ``[N, ...]``."""
    if getattr(dataset, "temporal", False):
        raise ValueError("conversion calibrates on static samples; this dataset is temporal")
    count = min(int(samples), len(dataset))
    if count < 1:
        raise ValueError(f"calibration_samples must be >= 1, got {samples}")
    return torch.stack([dataset[int(i)][0] for i in sample_indices(len(dataset), count)])


def load_ann(checkpoint: str | Path) -> tuple[nn.Module, Any, Any, Any]:
    """``(ann, config, train_set, test_set)`` rebuilt from an ANN run's checkpoint."""
    from ..engine.build import build_datasets, build_model
    from ..engine.checkpoint import load_checkpoint, load_model_state
    from ..engine.config import config_from_dict

    payload = load_checkpoint(checkpoint)
    config = config_from_dict(payload["config"])
    if config.train.method != "ann":
        raise ValueError(
            f"checkpoint {str(checkpoint)!r} is a train.method={config.train.method!r} run; "
            f"conversion needs an ANN trained with train.method=ann"
        )
    train_set, test_set = build_datasets(config)
    ann = build_model(config, train_set)
    load_model_state(ann, payload["model"], str(checkpoint))
    return ann.eval(), config, train_set, test_set


@MODELS.register("converted")
def converted(
    checkpoint: str | None = None,
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_size: int | None = None,
    neuron: str = "if",
    surrogate: str = "atan",
    neuron_kwargs: Mapping[str, Any] | None = None,
    calibration: str = "percentile",
    percentile: float = 99.9,
    per_channel: bool = False,
    calibration_samples: int = 1024,
    initial_membrane: float = 0.5,
    learn_threshold: bool = False,
    maxpool: str = "avg",
    ann: str = "ann_vgg_small",
) -> ConvertedSNN:
    """The SNN converted from the ANN in ``checkpoint`` (see the module docstring).

    Args (beyond the conversion options): ``ann``: the twin used when ``checkpoint`` is None.

    ``num_classes`` / ``in_channels`` / ``input_size`` (passed by the engine) must match
    the ANN's data when given.
    """
    common: dict[str, Any] = {
        "maxpool": maxpool,
        "initial_membrane": initial_membrane,
        "surrogate": surrogate,
        "learn_threshold": learn_threshold,
        "neuron": neuron,
        "neuron_kwargs": dict(neuron_kwargs or {}),
    }
    if checkpoint is None:
        sizes = {"in_channels": in_channels, "input_size": input_size}
        template = MODELS.create(
            ann,
            num_classes=10 if num_classes is None else num_classes,
            **{k: v for k, v in sizes.items() if v is not None},
        )
        return convert(template, None, **common)
    net, config, train_set, _ = load_ann(checkpoint)
    sample = train_set[0][0]
    expected = {"in_channels": int(sample.shape[0]), "input_size": int(sample.shape[-1])}
    got = {"in_channels": in_channels, "input_size": input_size}
    for key, value in got.items():
        if value is not None and value != expected[key]:
            raise ValueError(
                f"{key}: the ANN in {checkpoint!r} was trained on {expected[key]}, "
                f"the data here have {value}"
            )
    options: dict[str, Any] = {"per_channel": per_channel}
    if calibration == "percentile":
        options["percentile"] = percentile
    snn = convert(
        net, calibration_inputs(train_set, calibration_samples), calibration, **common, **options
    )
    if num_classes is not None:
        classes = int(snn.analog(sample.unsqueeze(0)).shape[-1])
        if classes != num_classes:
            raise ValueError(f"num_classes: the ANN has {classes} outputs, the data {num_classes}")
    snn.info["ann_checkpoint"] = str(checkpoint)
    snn.info["ann_dataset"] = config.data.name
    return snn
