r"""Spiking ResNet-18/34, and the ResNet skeleton shared by the SEW / MS / OR families.

Spiking ResNet follows Zheng et al., "Going Deeper With Directly-Trained Larger Spiking
Neural Networks" (AAAI 2021): the ANN basic block with ReLU replaced by a spiking neuron
(SN), the second SN placed *after* the residual add:
``out = SN(BN(Conv(SN(BN(Conv(S))))) + shortcut(S))``, shortcut = identity or
1×1 Conv-BN. With ``norm="tdbn"`` the two norms before the add use tdBN with
``α = 1/√2``, as in that paper.

Shapes: input ``[T, B, C, H, W]`` (analog or spikes) -> ``forward_features``
``[T, B, C', H', W']`` -> ``forward_head`` ``[T, B, num_classes]`` (average over T to
decode). Stages are ``layer1..layer4`` with widths ``base_width · (1, 2, 4, 8)``.

Stems: ``"cifar"`` (3×3 conv, stride 1, no pooling) for small images and
``"imagenet"`` (7×7/2 conv + 3×3/2 max-pool); ``stem="auto"`` picks CIFAR for
``input_size <= 64``. ``stem_pool=False`` drops the ImageNet stem's max-pool and moves
its down-sampling into ``layer1`` (stride 2 there, as MS-ResNet's official code): the
stage shapes stay those of the pooled stem. Global adaptive average pooling makes any
input from 8×8 up work.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
from torch import nn

from .._validation import check_choice
from ..layers import ThresholdDependentBatchNorm, fold
from ..neurons.registry import NeuronLike
from ..surrogates import SurrogateLike
from ._common import NeuronSettings, check_image_sequence, classifier, neuron_settings
from .registry import MODELS

STEMS = ("auto", "cifar", "imagenet")
NORMS = ("bn", "tdbn")
STAGES = ("layer1", "layer2", "layer3", "layer4")
# tdBN α before a residual add: two summed unit-variance inputs keep the sum's spread at V_th.
RESIDUAL_ALPHA = 1.0 / math.sqrt(2.0)


@dataclass(frozen=True)
class BlockConfig:
    """What every block needs to build its layers: the neuron factory and the norm.

    Args:
        neuron: registered neuron name / class / factory.
        neuron_kwargs: options for every neuron (``surrogate`` already merged in).
        norm: ``"bn"`` (BatchNorm2d folded over time) or ``"tdbn"``.
    """

    neuron: NeuronLike
    neuron_kwargs: Mapping[str, Any]
    norm: str = "bn"

    @cached_property
    def neurons(self) -> NeuronSettings:
        """The zoo's one neuron helper over ``neuron`` and ``neuron_kwargs``."""
        return neuron_settings(self.neuron, None, self.neuron_kwargs)

    def make_neuron(self) -> nn.Module:
        """A fresh neuron (each layer owns its own parameters and state)."""
        return self.neurons()

    def conv_norm(
        self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, alpha: float = 1.0
    ) -> nn.Module:
        """``[T, B, C_in, H, W]`` -> Conv (no bias; the norm has one) -> norm."""
        conv = nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False)
        if self.norm == "bn":
            return fold(conv, nn.BatchNorm2d(out_channels))
        v_th = float(self.neuron_kwargs.get("v_th", 1.0))
        return nn.Sequential(
            fold(conv), ThresholdDependentBatchNorm(out_channels, alpha=alpha, v_th=v_th)
        )

    def downsample(self, in_channels: int, out_channels: int, stride: int) -> nn.Module | None:
        """1×1 Conv-norm projection when the shape changes, else ``None`` (identity)."""
        if stride == 1 and in_channels == out_channels:
            return None
        return self.conv_norm(in_channels, out_channels, 1, stride, alpha=RESIDUAL_ALPHA)


BlockFactory = Callable[[int, int, int, BlockConfig], nn.Module]


class BasicBlock(nn.Module):
    """Spiking ResNet basic block, SN after the add: ``[T, B, C_in, H, W]`` spikes ->
    ``[T, B, C_out, H/stride, W/stride]`` spikes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, cfg: BlockConfig):
        super().__init__()
        self.conv1 = cfg.conv_norm(in_channels, out_channels, 3, stride)
        self.sn1 = cfg.make_neuron()
        self.conv2 = cfg.conv_norm(out_channels, out_channels, 3, alpha=RESIDUAL_ALPHA)
        self.downsample = cfg.downsample(in_channels, out_channels, stride)
        self.sn2 = cfg.make_neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.sn2(self.conv2(self.sn1(self.conv1(x))) + shortcut)


class SpikingResNet(nn.Module):
    """ResNet skeleton over ``[T, B, C, H, W]``; the block decides the residual form.

    Args:
        block: ``block(in_channels, out_channels, stride, cfg)`` -> module.
        layers: number of blocks in each of the 4 stages.
        num_classes: output classes (``0`` -> no classifier, ``forward`` gives features).
        in_channels: input channels.
        base_width: channels of the stem and ``layer1`` (64 in the papers; e.g. 8 for tests).
        stem: ``"cifar"``, ``"imagenet"`` or ``"auto"`` (CIFAR when ``input_size <= 64``).
        input_size: input side, only used by ``stem="auto"``.
        neuron: registered neuron name / class / factory, built once per SN layer.
        neuron_kwargs: options for every neuron (e.g. ``{"tau": 2.0}``).
        surrogate: surrogate gradient: a name, ``{"name": "atan", "alpha": 4}`` or an
            instance (default atan).
        norm: ``"bn"`` or ``"tdbn"``.
        spiking_stem: end the stem with an SN (off for membrane-shortcut blocks, whose
            residual path starts with its own SN).
        stem_pool: the ImageNet stem's 3×3/2 max-pool; ``False``: none, and ``layer1``
            has stride 2 instead (no effect on the CIFAR stem).
        final_neuron: one SN after ``layer4`` (MS-ResNet's real-valued output needs it).
        drop_rate: dropout before the classifier.
    """

    readout_kind = "membrane"  # outputs: the linear classifier's values (models/output.py)

    def __init__(
        self,
        block: BlockFactory,
        layers: Sequence[int],
        num_classes: int = 10,
        in_channels: int = 3,
        base_width: int = 64,
        stem: str = "auto",
        input_size: int = 32,
        neuron: NeuronLike = "lif",
        neuron_kwargs: Mapping[str, Any] | None = None,
        surrogate: SurrogateLike | None = None,
        norm: str = "bn",
        spiking_stem: bool = True,
        final_neuron: bool = False,
        stem_pool: bool = True,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        check_choice(stem, "stem", STEMS)
        check_choice(norm, "norm", NORMS)
        _check_positive_int(in_channels, "in_channels")
        _check_positive_int(base_width, "base_width")
        _check_positive_int(input_size, "input_size")
        if not isinstance(stem_pool, bool):
            raise TypeError(f"stem_pool must be True or False, got {stem_pool!r}")
        if len(layers) != 4 or not all(isinstance(n, int) and n >= 1 for n in layers):
            raise ValueError(f"layers must be 4 positive ints (blocks per stage), got {layers!r}")
        if stem == "auto":
            # Below ~64 px a 7×7/2 conv + max-pool would discard most of the image.
            stem = "cifar" if input_size <= 64 else "imagenet"
        self.stem_type = stem
        self.in_channels = in_channels
        settings = neuron_settings(neuron, surrogate, neuron_kwargs)
        cfg = BlockConfig(settings.neuron, settings.options, norm)

        if stem == "cifar":
            stem_layers = [cfg.conv_norm(in_channels, base_width, 3)]
        else:
            stem_layers = [cfg.conv_norm(in_channels, base_width, 7, stride=2)]
        if spiking_stem:
            stem_layers.append(cfg.make_neuron())
        # Without the max-pool, layer1 takes over its down-sampling (stride 2).
        first_stride = 1
        if stem == "imagenet" and stem_pool:
            stem_layers.append(fold(nn.MaxPool2d(3, stride=2, padding=1)))
        elif stem == "imagenet":
            first_stride = 2
        self.stem = nn.Sequential(*stem_layers)

        channels = base_width
        for index, (name, depth) in enumerate(zip(STAGES, layers, strict=True)):
            width = base_width * 2**index
            stride = first_stride if index == 0 else 2
            blocks = []
            for j in range(depth):
                blocks.append(block(channels, width, stride if j == 0 else 1, cfg))
                channels = width
            self.add_module(name, nn.Sequential(*blocks))
        self.final_neuron = cfg.make_neuron() if final_neuron else nn.Identity()
        self.num_features = channels
        self.global_pool = fold(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.drop = fold(nn.Dropout(drop_rate)) if drop_rate > 0 else nn.Identity()
        self.fc = self._classifier(num_classes)

    def _classifier(self, num_classes: int) -> nn.Module:
        return classifier(self.num_features, num_classes)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier (``0`` removes it)."""
        self.fc = self._classifier(num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` -> ``[T, B, C', H', W']`` (after ``layer4``)."""
        check_image_sequence(x, self.in_channels)
        x = self.stem(x)
        for name in STAGES:
            x = getattr(self, name)(x)
        return self.final_neuron(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``[T, B, C', H', W']`` -> ``[T, B, num_classes]`` (``[T, B, C']`` if ``pre_logits``)."""
        x = self.drop(self.global_pool(x))
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` -> per-step class scores ``[T, B, num_classes]``."""
        return self.forward_head(self.forward_features(x))


def _check_positive_int(value: Any, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


@MODELS.register("spiking_resnet18")
def spiking_resnet18(**kwargs: Any) -> SpikingResNet:
    """Spiking ResNet-18 (blocks 2-2-2-2); options as :class:`SpikingResNet`."""
    return SpikingResNet(BasicBlock, (2, 2, 2, 2), **kwargs)


@MODELS.register("spiking_resnet34")
def spiking_resnet34(**kwargs: Any) -> SpikingResNet:
    """Spiking ResNet-34 (blocks 3-4-6-3); options as :class:`SpikingResNet`."""
    return SpikingResNet(BasicBlock, (3, 4, 6, 3), **kwargs)
