r"""MS-ResNet-18/34: membrane-shortcut ResNet (Hu et al., "Advancing Spiking Neural
Networks Toward Deep Residual Learning", IEEE TNNLS 2024; arXiv:2112.08954).

The shortcut carries real-valued membrane-like signals and each residual path *starts*
with a spiking neuron: ``X_{l+1} = X_l + BN(Conv(SN(BN(Conv(SN(X_l))))))``. Every
convolution in the residual path therefore sees spikes, while the identity path is
never thresholded, so it is an exact identity map through any depth. When the shape
changes the shortcut is ``BN(Conv1×1(X_l))`` on the real-valued input (as in the
authors' code). The stem is Conv-BN without an SN (the first block's SN spikes it) and
one extra SN after ``layer4`` turns the real-valued stream into spikes for the
classifier.

Shapes: ``[T, B, C, H, W]`` -> ``forward_features`` spikes ``[T, B, 8·base_width, H', W']``
-> ``[T, B, num_classes]``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .registry import MODELS
from .resnet import BlockConfig, SpikingResNet


class MSBlock(nn.Module):
    """Membrane-shortcut block: real ``[T, B, C_in, H, W]`` -> real
    ``[T, B, C_out, H/stride, W/stride]``; spikes only inside the residual path."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, cfg: BlockConfig):
        super().__init__()
        self.sn1 = cfg.make_neuron()
        self.conv1 = cfg.conv_norm(in_channels, out_channels, 3, stride)
        self.sn2 = cfg.make_neuron()
        self.conv2 = cfg.conv_norm(out_channels, out_channels, 3)
        self.downsample = cfg.downsample(in_channels, out_channels, stride)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """``BN(Conv(SN(BN(Conv(SN(x))))))``."""
        return self.conv2(self.sn2(self.conv1(self.sn1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return shortcut + self.residual(x)


def _ms(layers: tuple[int, ...], kwargs: dict[str, Any]) -> SpikingResNet:
    for fixed in ("spiking_stem", "final_neuron"):
        if fixed in kwargs:
            raise TypeError(f"MS-ResNet fixes {fixed!r} (its membrane shortcut needs it)")
    return SpikingResNet(MSBlock, layers, spiking_stem=False, final_neuron=True, **kwargs)


@MODELS.register("ms_resnet18")
def ms_resnet18(**kwargs: Any) -> SpikingResNet:
    """MS-ResNet-18 (2-2-2-2); options as :class:`~spikeforge.models.resnet.SpikingResNet`."""
    return _ms((2, 2, 2, 2), kwargs)


@MODELS.register("ms_resnet34")
def ms_resnet34(**kwargs: Any) -> SpikingResNet:
    """MS-ResNet-34 (3-4-6-3); options as :class:`~spikeforge.models.resnet.SpikingResNet`."""
    return _ms((3, 4, 6, 3), kwargs)
