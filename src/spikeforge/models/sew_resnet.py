r"""SEW ResNet-18/34 (Fang et al., "Deep Residual Learning in Spiking Neural Networks",
NeurIPS 2021).

Spike-element-wise block: ``A = SN(BN(Conv(SN(BN(Conv(S))))))``, ``out = g(A, S')`` with
``S'`` the input spikes (identity) or ``SN(BN(Conv1×1(S)))`` when the shape changes, and
``g`` ∈ {ADD: ``A + S'``, AND: ``A·S'``, IAND: ``(1 - A)·S'``}. Unlike Spiking ResNet
(SN after the add) the block can express the identity exactly (``A = 0`` with ADD/IAND),
which is what lets deep SEW nets train.

Shapes: ``[T, B, C, H, W]`` -> ``[T, B, num_classes]``; features after ``layer4``
``[T, B, 8·base_width, H', W']`` (non-binary counts with ADD, binary with AND/IAND).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from .._validation import check_choice
from ..layers import connect as join
from .registry import MODELS
from .resnet import BlockConfig, SpikingResNet

SEW_CONNECTS = ("add", "and", "iand")


class SEWBlock(nn.Module):
    """SEW basic block: ``[T, B, C_in, H, W]`` -> ``[T, B, C_out, H/stride, W/stride]``.

    Args:
        in_channels, out_channels, stride: as a ResNet basic block.
        cfg: neuron factory and norm (:class:`~spikeforge.models.resnet.BlockConfig`).
        connect: ``"add"``, ``"and"`` or ``"iand"``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        cfg: BlockConfig,
        connect: str = "add",
    ) -> None:
        super().__init__()
        self.connect = check_choice(connect, "connect", SEW_CONNECTS)
        self.conv1 = cfg.conv_norm(in_channels, out_channels, 3, stride)
        self.sn1 = cfg.make_neuron()
        self.conv2 = cfg.conv_norm(out_channels, out_channels, 3)
        self.sn2 = cfg.make_neuron()
        projection = cfg.downsample(in_channels, out_channels, stride)
        # SEW projects the shortcut to spikes too, so g always joins two spike tensors.
        self.downsample = (
            None if projection is None else nn.Sequential(projection, cfg.make_neuron())
        )

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """``A = SN(BN(Conv(SN(BN(Conv(x))))))``."""
        return self.sn2(self.conv2(self.sn1(self.conv1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return join(self.residual(x), shortcut, self.connect)

    def extra_repr(self) -> str:
        return f"connect={self.connect!r}"


def _sew(layers: tuple[int, ...], connect: str, kwargs: dict[str, Any]) -> SpikingResNet:
    check_choice(connect, "connect", SEW_CONNECTS)
    return SpikingResNet(partial(SEWBlock, connect=connect), layers, **kwargs)


@MODELS.register("sew_resnet18")
def sew_resnet18(connect: str = "add", **kwargs: Any) -> SpikingResNet:
    """SEW ResNet-18 (2-2-2-2); ``connect`` ∈ add/and/iand, other options as
    :class:`~spikeforge.models.resnet.SpikingResNet`."""
    return _sew((2, 2, 2, 2), connect, kwargs)


@MODELS.register("sew_resnet34")
def sew_resnet34(connect: str = "add", **kwargs: Any) -> SpikingResNet:
    """SEW ResNet-34 (3-4-6-3); ``connect`` ∈ add/and/iand, other options as
    :class:`~spikeforge.models.resnet.SpikingResNet`."""
    return _sew((3, 4, 6, 3), connect, kwargs)
