"""Small convolutional SNNs (CIFARNet-like shape, sized for 8×8 to 32×32 inputs).

Input ``[T, B, C, H, W]`` (analog, e.g. direct-encoded) -> per-step class scores
``[T, B, num_classes]`` from a non-spiking linear readout; decode by the mean over T.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from ..layers import fold
from ..neurons.registry import NeuronLike
from ..surrogates import SurrogateLike
from ._common import neuron_settings
from .output import declare_readout
from .registry import MODELS


def conv_bn(in_channels: int, out_channels: int) -> nn.Module:
    """3×3 conv (no bias, BN follows) + BatchNorm2d, folded over time."""
    return fold(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
    )


@MODELS.register("csnn_tiny")
def csnn_tiny(
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int = 8,
    widths: tuple[int, ...] = (16, 32),
    neuron: NeuronLike = "lif",
    neuron_kwargs: Mapping[str, Any] | None = None,
    surrogate: SurrogateLike | None = None,
) -> nn.Sequential:
    """Conv-BN-neuron stages, one 2×2 average pool, a linear readout.

    Args:
        num_classes: output classes.
        in_channels: image channels.
        input_size: square input side (divisible by 2).
        widths: channels of each conv stage.
        neuron: registered neuron name / class / factory, built once per stage.
        neuron_kwargs: options for every neuron (e.g. ``{"tau": 2.0}``).
        surrogate: surrogate gradient: a name, ``{"name": "atan", "alpha": 4}`` or an
            instance (default atan; see :func:`~spikeforge.models._common.neuron_settings`).
    """
    if input_size % 2:
        raise ValueError(f"input_size must be even (one 2×2 pool), got {input_size}")
    make_neuron = neuron_settings(neuron, surrogate, neuron_kwargs)
    layers: list[nn.Module] = []
    channels = in_channels
    for width in widths:
        layers += [conv_bn(channels, width), make_neuron()]
        channels = width
    features = channels * (input_size // 2) ** 2
    layers.append(fold(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(features, num_classes)))
    return declare_readout(nn.Sequential(*layers), "membrane")  # the linear readout
