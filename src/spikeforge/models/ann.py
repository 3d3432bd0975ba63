"""ReLU ANN twins of the spiking models, for ANN -> SNN conversion.

Plain CNNs mapping ``[B, C, H, W]`` -> ``[B, num_classes]``: conv [+ BatchNorm] + ReLU
stages with average (or max) pooling and a linear head, written so ``torch.fx`` can
trace them (no data-dependent control flow). Like every registered model they also take
time-major ``[T, B, C, H, W]`` -> ``[T, B, num_classes]`` (each step independently; the
leading dims are folded into the batch, a traceable reshape). Train them with the ``ann``
method (:mod:`spikeforge.methods.ann`), which feeds the time-averaged input.

Every factory accepts ``neuron``, ``surrogate`` and ``neuron_kwargs`` (the engine passes
them to every model), checks them as every zoo model does
(:func:`~spikeforge.models._common.neuron_settings`) and ignores them: an ANN has no
spiking neuron.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._common import neuron_settings
from .registry import MODELS
from .vgg import VGG_CONFIGS

POOLS = ("avg", "max")


def _pool(kind: str, size: int = 2, ceil_mode: bool = False) -> nn.Module:
    if kind not in POOLS:
        raise ValueError(f"pool must be one of {', '.join(POOLS)}, got {kind!r}")
    if kind == "avg":
        return nn.AvgPool2d(size, ceil_mode=ceil_mode)
    return nn.MaxPool2d(size, ceil_mode=ceil_mode)


def conv_relu(
    in_channels: int, out_channels: int, batch_norm: bool, bias: bool | None
) -> list[nn.Module]:
    """3×3 conv [+ BN] + ReLU; ``bias=None`` -> bias only without BN."""
    bias = (not batch_norm) if bias is None else bias
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    return [*layers, nn.ReLU()]


def _apply_per_image(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``[..., C, H, W]`` -> ``[..., out]``: leading dims folded into the batch (fx-traceable)."""
    lead = x.shape[:-3]
    y = net(x.flatten(0, -4))
    return y.reshape(lead + y.shape[1:])


class ANNTwin(nn.Module):
    """A stack of layers applied per image: ``[B | T, B, C, H, W]`` -> ``[B | T, B, out]``."""

    readout_kind = "analog"  # outputs: an ANN's scores (see models/output.py)

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _apply_per_image(self.layers, x)


def _check_image(in_channels: int, num_classes: int) -> None:
    if not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")


@MODELS.register("ann_csnn_tiny")
def ann_csnn_tiny(
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int = 8,
    widths: Sequence[int] = (16, 32),
    batch_norm: bool = True,
    bias: bool | None = None,
    pool: str = "avg",
    neuron: Any = None,
    surrogate: Any = None,
    neuron_kwargs: Mapping[str, Any] | None = None,
) -> ANNTwin:
    """ANN twin of ``csnn_tiny``: conv-[BN]-ReLU stages, one pool, a linear head.

    ``[B, C, H, W]`` -> ``[B, num_classes]``. ``pool``: ``"avg"`` (average pool to
    ``input_size/2``, i.e. 2×2 at the nominal size, adaptive otherwise) or ``"max"`` (2×2).
    """
    _check_image(in_channels, num_classes)
    neuron_settings(neuron, surrogate, neuron_kwargs)  # checked, unused (no spiking neuron)
    if input_size % 2:
        raise ValueError(f"input_size must be even (one 2×2 pool), got {input_size}")
    layers: list[nn.Module] = []
    channels = in_channels
    for width in widths:
        layers += conv_relu(channels, width, batch_norm, bias)
        channels = width
    features = channels * (input_size // 2) ** 2
    head = nn.AdaptiveAvgPool2d(input_size // 2) if pool == "avg" else _pool(pool)
    layers += [head, nn.Flatten(), nn.Linear(features, num_classes)]
    return ANNTwin(layers)


@MODELS.register("ann_vgg_small")
def ann_vgg_small(
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int | None = None,
    width_mult: float = 1.0,
    batch_norm: bool = True,
    bias: bool | None = None,
    pool: str = "avg",
    hidden_sizes: Sequence[int] = (),
    drop_rate: float = 0.0,
    neuron: Any = None,
    surrogate: Any = None,
    neuron_kwargs: Mapping[str, Any] | None = None,
) -> ANNTwin:
    """ANN twin of ``spiking_vgg_small`` (16-32-64 conv stages, 2×2 pools, global average
    pool, optional hidden Linear-ReLU layers). ``[B, C, H, W]`` -> ``[B, num_classes]``."""
    _check_image(in_channels, num_classes)
    neuron_settings(neuron, surrogate, neuron_kwargs)  # checked, unused (no spiking neuron)
    layers: list[nn.Module] = []
    channels = in_channels
    for spec in VGG_CONFIGS["vgg_small"]:
        if spec == "M":
            layers.append(_pool(pool, ceil_mode=True))
            continue
        width = max(1, round(int(spec) * width_mult))
        layers += conv_relu(channels, width, batch_norm, bias)
        channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    for size in hidden_sizes:
        layers += [nn.Linear(channels, size), nn.ReLU()]
        if drop_rate > 0:
            layers.append(nn.Dropout(drop_rate))
        channels = size
    layers.append(nn.Linear(channels, num_classes))
    return ANNTwin(layers)


class BasicBlock(nn.Module):
    """ResNet basic block with functional ReLUs: ``relu(bn(conv(relu(bn(conv x)))) + sc)``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ANNResNet(nn.Module):
    """Small CIFAR-style ResNet: conv stem, one basic block per stage, global pool, linear.

    ``[B, C, H, W]`` -> ``[B, num_classes]`` (or ``[T, B, ...]`` -> ``[T, B, ...]``).
    Stages after the first halve the resolution.
    """

    readout_kind = "analog"  # outputs: an ANN's scores (see models/output.py)

    def __init__(
        self, num_classes: int = 10, in_channels: int = 3, widths: Sequence[int] = (16, 32, 64)
    ) -> None:
        super().__init__()
        _check_image(in_channels, num_classes)
        self.stem = nn.Sequential(*conv_relu(in_channels, widths[0], True, None))
        blocks, channels = [], widths[0]
        for i, width in enumerate(widths):
            blocks.append(BasicBlock(channels, width, 1 if i == 0 else 2))
            channels = width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward_image(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> ``[B, num_classes]``."""
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-3]
        y = self.forward_image(x.flatten(0, -4))
        return y.reshape(lead + y.shape[1:])


@MODELS.register("ann_resnet_small")
def ann_resnet_small(
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int | None = None,
    widths: Sequence[int] = (16, 32, 64),
    neuron: Any = None,
    surrogate: Any = None,
    neuron_kwargs: Mapping[str, Any] | None = None,
) -> ANNResNet:
    """Three-stage ResNet (one basic block each); see :class:`ANNResNet`."""
    neuron_settings(neuron, surrogate, neuron_kwargs)  # checked, unused (no spiking neuron)
    return ANNResNet(num_classes, in_channels, tuple(widths))
