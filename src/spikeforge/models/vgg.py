r"""Spiking VGG-11/16 (Simonyan & Zisserman, ICLR 2015 layouts as used for SNNs, e.g.
Rathi et al., ICLR 2020 and Zheng et al., AAAI 2021) with average pooling.

Conv3×3-[BN]-SN per layer; "M" is a 2×2 average pool (max-pooling spikes gives binary
maps that lose the count; average pooling keeps rates and stays a linear op).
Input ``[T, B, C, H, W]`` -> ``forward_features`` ``[T, B, C', H', W']`` spikes ->
adaptive average pool, optional hidden Linear-SN layers -> ``[T, B, num_classes]``.
Pools use ``ceil_mode`` so small inputs (8×8) survive five pools.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..layers import fold
from ..neurons.registry import NeuronLike
from ..surrogates import SurrogateLike
from ._common import check_image_sequence, classifier, neuron_settings
from .registry import MODELS

LayerSpec = int | str
VGG_CONFIGS: dict[str, tuple[LayerSpec, ...]] = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (
        *(64, 64, "M", 128, 128, "M", 256, 256, 256, "M"),
        *(512, 512, 512, "M", 512, 512, 512, "M"),
    ),
    "vgg_small": (16, "M", 32, "M", 64, "M"),
}


class SpikingVGG(nn.Module):
    """VGG feature stack from a config of widths and ``"M"`` (pool) entries.

    Args:
        config: layer widths and ``"M"`` markers.
        num_classes: output classes (``0`` -> no classifier).
        in_channels: input channels.
        input_size: accepted for the zoo's uniform interface (any size >= 1 works).
        width_mult: scales every width (``max(1, round(w · width_mult))``).
        norm: BatchNorm2d after each conv (folded over time); off -> conv with bias.
        hidden_sizes: hidden Linear-SN layers of the classifier (``()``: one linear).
        drop_rate: dropout in the classifier.
        neuron, neuron_kwargs, surrogate: the injected spiking neuron (surrogate: a name,
            ``{"name": "atan", "alpha": 4}`` or an instance; see
            :func:`~spikeforge.models._common.neuron_settings`).
    """

    readout_kind = "membrane"  # outputs: the linear classifier's values (models/output.py)

    def __init__(
        self,
        config: Sequence[LayerSpec],
        num_classes: int = 10,
        in_channels: int = 3,
        input_size: int | None = None,
        width_mult: float = 1.0,
        norm: bool = True,
        hidden_sizes: Sequence[int] = (),
        drop_rate: float = 0.0,
        neuron: NeuronLike = "lif",
        neuron_kwargs: Mapping[str, Any] | None = None,
        surrogate: SurrogateLike | None = None,
    ) -> None:
        super().__init__()
        # input_size is part of the zoo's uniform interface; ceil-mode pooling and the
        # final adaptive pool make the network itself size-agnostic, so only check it.
        if input_size is not None and (not isinstance(input_size, int) or input_size < 1):
            raise ValueError(f"input_size must be a positive int, got {input_size!r}")
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
        if not width_mult > 0:
            raise ValueError(f"width_mult must be > 0, got {width_mult!r}")
        if not any(isinstance(v, int) for v in config):
            raise ValueError(f"config needs at least one conv width, got {tuple(config)!r}")
        make_neuron = neuron_settings(neuron, surrogate, neuron_kwargs)
        self.in_channels = in_channels
        layers: list[nn.Module] = []
        channels = in_channels
        for spec in config:
            if spec == "M":
                layers.append(fold(nn.AvgPool2d(2, ceil_mode=True)))
                continue
            if not isinstance(spec, int) or spec < 1:
                raise ValueError(f"config entries must be positive ints or 'M', got {spec!r}")
            width = max(1, round(spec * width_mult))
            conv = nn.Conv2d(channels, width, 3, padding=1, bias=not norm)
            layers += [fold(conv, nn.BatchNorm2d(width)) if norm else fold(conv)]
            layers.append(make_neuron())
            channels = width
        self.features = nn.Sequential(*layers)
        self.num_features = channels
        self.global_pool = fold(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        head: list[nn.Module] = []
        for size in hidden_sizes:
            head += [fold(nn.Linear(channels, size)), make_neuron(features=size)]
            if drop_rate > 0:
                head.append(fold(nn.Dropout(drop_rate)))
            channels = size
        self.pre_logits = nn.Sequential(*head)
        self.head_features = channels
        self.fc = self._classifier(num_classes)

    def _classifier(self, num_classes: int) -> nn.Module:
        return classifier(self.head_features, num_classes)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier (``0`` removes it)."""
        self.fc = self._classifier(num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` -> spikes ``[T, B, C', H', W']``."""
        check_image_sequence(x, self.in_channels)
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``[T, B, C', H', W']`` -> ``[T, B, num_classes]`` (``[T, B, hidden]`` if
        ``pre_logits``)."""
        x = self.pre_logits(self.global_pool(x))
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` -> per-step class scores ``[T, B, num_classes]``."""
        return self.forward_head(self.forward_features(x))


@MODELS.register("spiking_vgg11")
def spiking_vgg11(**kwargs: Any) -> SpikingVGG:
    """Spiking VGG-11 (8 conv layers, 5 average pools); options as :class:`SpikingVGG`."""
    return SpikingVGG(VGG_CONFIGS["vgg11"], **kwargs)


@MODELS.register("spiking_vgg16")
def spiking_vgg16(**kwargs: Any) -> SpikingVGG:
    """Spiking VGG-16 (13 conv layers, 5 average pools); options as :class:`SpikingVGG`."""
    return SpikingVGG(VGG_CONFIGS["vgg16"], **kwargs)


@MODELS.register("spiking_vgg_small")
def spiking_vgg_small(**kwargs: Any) -> SpikingVGG:
    """Three conv stages (16-32-64) for tests and CPU runs; options as :class:`SpikingVGG`."""
    return SpikingVGG(VGG_CONFIGS["vgg_small"], **kwargs)
