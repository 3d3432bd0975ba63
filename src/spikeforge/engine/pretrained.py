r"""Trained ANNs rebuilt from their checkpoints, and the ``converted`` model.

The one road from a checkpoint to a network: :func:`load_ann` (used for a distillation
teacher, for conversion and by every pipeline) and the registered model ``converted``,
the SNN converted from an ANN checkpoint of a ``train.method=ann`` run (the checkpoint
carries its config, so the ANN and its calibration data are rebuilt from it).

``converted`` options (``model.kwargs``): ``checkpoint``, ``calibration``
(``"percentile"``/``"max"``), ``percentile``, ``per_channel``, ``calibration_samples``,
``initial_membrane``, ``learn_threshold`` (trainable ``V_th``; default fixed),
``maxpool``, ``random_init``. ``model.neuron`` replaces ReLU: ``if`` (the exact rate
model) or ``lif``/``plif``; ``model.surrogate`` is its surrogate gradient for BPTT.

- ``random_init=True``: the checkpoint's *architecture* freshly initialised (from the
  seeded RNG) and calibrated the same way, so that the thresholds make the random network
  fire — the "from scratch" student of the same converted architecture.
- no checkpoint: the ``ann`` twin, freshly initialised and converted uncalibrated
  (``V_th = 1``): a template, e.g. for shape checks or to load a converted state into.

Resuming works as for any run: the converted model is rebuilt deterministically and the
run's own checkpoint then overwrites its weights and thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from torch import nn
from torch.utils.data import Dataset

from ..methods.conversion import ConvertedSNN, convert
from ..methods.conversion.evaluate import calibration_inputs
from ..models._common import neuron_settings
from ..models.registry import MODELS
from ..surrogates import SurrogateLike
from .build import build_datasets, build_model
from .checkpoint import load_checkpoint, load_model_state
from .config import Config, config_from_dict


class PretrainedANN(NamedTuple):
    """An ANN rebuilt from a checkpoint, with the config and data it was trained on."""

    ann: nn.Module
    config: Config
    train_set: Dataset
    test_set: Dataset


def load_ann_config(checkpoint: str | Path) -> tuple[Config, dict[str, Any]]:
    """The config of an ANN run's checkpoint (refusing other methods) and the payload."""
    payload = load_checkpoint(checkpoint)
    config = config_from_dict(payload["config"], where=f"checkpoint {str(checkpoint)!r}")
    if config.train.method != "ann":
        raise ValueError(
            f"checkpoint {str(checkpoint)!r} is a train.method={config.train.method!r} run; "
            f"an ANN trained with train.method=ann is needed here"
        )
    return config, payload


def load_ann(checkpoint: str | Path, weights: bool = True) -> PretrainedANN:
    """The ANN of a ``train.method=ann`` run, rebuilt from its checkpoint (eval mode).

    ``weights=False``: the same architecture freshly initialised (from the global RNG).
    """
    config, payload = load_ann_config(checkpoint)
    train_set, test_set = build_datasets(config)
    ann = build_model(config, train_set)
    if weights:
        load_model_state(ann, payload["model"], str(checkpoint))
    return PretrainedANN(ann.eval(), config, train_set, test_set)


@MODELS.register("converted")
def converted(
    checkpoint: str | None = None,
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_size: int | None = None,
    neuron: str = "if",
    surrogate: SurrogateLike | None = None,
    neuron_kwargs: Mapping[str, Any] | None = None,
    calibration: str = "percentile",
    percentile: float = 99.9,
    per_channel: bool = False,
    calibration_samples: int = 1024,
    initial_membrane: float = 0.5,
    learn_threshold: bool = False,
    maxpool: str = "avg",
    random_init: bool = False,
    ann: str = "ann_vgg_small",
) -> ConvertedSNN:
    """The SNN converted from the ANN in ``checkpoint`` (see the module docstring).

    Args (beyond the conversion options): ``ann``: the twin used when ``checkpoint`` is
    None; ``random_init``: convert the checkpoint's architecture, freshly initialised.

    ``num_classes`` / ``in_channels`` / ``input_size`` (passed by the engine) must match
    the ANN's data when given.
    """
    options = dict(neuron_settings(neuron, surrogate, neuron_kwargs).options)
    common: dict[str, Any] = {
        "maxpool": maxpool,
        "initial_membrane": initial_membrane,
        "surrogate": options.pop("surrogate"),  # resolved once, given once
        "learn_threshold": learn_threshold,
        "neuron": neuron,
        "neuron_kwargs": options,
    }
    if checkpoint is None:
        if random_init:
            raise ValueError("converted: random_init=true needs model.kwargs.checkpoint")
        sizes = {"in_channels": in_channels, "input_size": input_size}
        template = MODELS.create(
            ann,
            num_classes=10 if num_classes is None else num_classes,
            **{k: v for k, v in sizes.items() if v is not None},
        )
        return convert(template, None, **common)
    net, config, train_set, _ = load_ann(checkpoint, weights=not random_init)
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
    snn.info["random_init"] = bool(random_init)
    return snn
