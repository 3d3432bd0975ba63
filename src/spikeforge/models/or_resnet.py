r"""OR-Spiking ResNet-18/34 with optional SynA gating (Shan et al., "SynA-ResNet:
Spike-driven ResNet Achieved through OR Residual Connection", arXiv:2311.06570).

The block is SEW-like but joins with OR, ``out = A + S' - A·S'``: on spikes this is the
logical OR, so block outputs stay binary and every layer remains spike-driven (SEW ADD
emits 2s). ``A = SN(BN(Conv(SN(BN(Conv(S))))))``; ``S'`` is the input (identity) or
``SN(BN(Conv1×1(S)))``.

With ``syna=True`` a :class:`~spikeforge.layers.SynAGate` *promotes* the residual path
(sigmoid gate on its last pre-activation) and another *inhibits* the shortcut (binary
spiking gate: on the projection's pre-activation, or directly on identity spikes). The
gate form, its placement at every block and the channel-axis default are documented in
:mod:`spikeforge.layers.residual`; ``syna_axis="time", num_steps=T`` is the authors'
temporal variant.

Shapes: ``[T, B, C, H, W]`` -> ``[T, B, num_classes]``; ``forward_features`` gives
binary ``[T, B, 8·base_width, H', W']``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from ..layers import SynAGate, spike_or
from .registry import MODELS
from .resnet import BlockConfig, SpikingResNet


class ORBlock(nn.Module):
    """OR-residual block: spikes ``[T, B, C_in, H, W]`` -> spikes
    ``[T, B, C_out, H/stride, W/stride]``.

    Args:
        in_channels, out_channels, stride: as a ResNet basic block.
        cfg: neuron factory and norm.
        syna: add the SynA promotion / inhibition gates.
        syna_axis: ``"channel"`` (any T) or ``"time"`` (needs ``num_steps``).
        num_steps: T, for ``syna_axis="time"``.
        reduction: SynA MLP reduction ratio.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        cfg: BlockConfig,
        syna: bool = False,
        syna_axis: str = "channel",
        num_steps: int | None = None,
        reduction: int = 4,
    ) -> None:
        super().__init__()

        def gate(mode: str) -> nn.Module:
            if not syna:
                return nn.Identity()
            neuron = cfg.make_neuron() if mode == "inhibit" else None
            return SynAGate(out_channels, mode, syna_axis, num_steps, reduction, neuron)

        self.conv1 = cfg.conv_norm(in_channels, out_channels, 3, stride)
        self.sn1 = cfg.make_neuron()
        self.conv2 = cfg.conv_norm(out_channels, out_channels, 3)
        self.promote = gate("promote")
        self.sn2 = cfg.make_neuron()
        projection = cfg.downsample(in_channels, out_channels, stride)
        self.downsample = (
            None
            if projection is None
            # The inhibition gate sits before the SN, as in the authors' shortcut.
            else nn.Sequential(projection, gate("inhibit"), cfg.make_neuron())
        )
        # Identity shortcuts are spikes already: gate them directly (stays binary).
        self.inhibit = gate("inhibit") if projection is None else nn.Identity()

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """``A``: binary ``[T, B, C_out, H', W']``."""
        return self.sn2(self.promote(self.conv2(self.sn1(self.conv1(x)))))

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """``S'``: binary ``[T, B, C_out, H', W']``."""
        return self.inhibit(x) if self.downsample is None else self.downsample(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return spike_or(self.residual(x), self.shortcut(x))


def _or(
    layers: tuple[int, ...],
    syna: bool,
    syna_axis: str,
    num_steps: int | None,
    reduction: int,
    kwargs: dict[str, Any],
) -> SpikingResNet:
    block = partial(
        ORBlock, syna=syna, syna_axis=syna_axis, num_steps=num_steps, reduction=reduction
    )
    return SpikingResNet(block, layers, **kwargs)


@MODELS.register("or_resnet18")
def or_resnet18(
    syna: bool = False,
    syna_axis: str = "channel",
    num_steps: int | None = None,
    reduction: int = 4,
    **kwargs: Any,
) -> SpikingResNet:
    """OR-Spiking ResNet-18 (2-2-2-2); SynA options as :class:`ORBlock`, the rest as
    :class:`~spikeforge.models.resnet.SpikingResNet`."""
    return _or((2, 2, 2, 2), syna, syna_axis, num_steps, reduction, kwargs)


@MODELS.register("or_resnet34")
def or_resnet34(
    syna: bool = False,
    syna_axis: str = "channel",
    num_steps: int | None = None,
    reduction: int = 4,
    **kwargs: Any,
) -> SpikingResNet:
    """OR-Spiking ResNet-34 (3-4-6-3); options as :func:`or_resnet18`."""
    return _or((3, 4, 6, 3), syna, syna_axis, num_steps, reduction, kwargs)


@MODELS.register("syna_resnet18")
def syna_resnet18(**kwargs: Any) -> SpikingResNet:
    """SynA-ResNet-18: :func:`or_resnet18` with ``syna=True``."""
    return or_resnet18(syna=True, **kwargs)


@MODELS.register("syna_resnet34")
def syna_resnet34(**kwargs: Any) -> SpikingResNet:
    """SynA-ResNet-34: :func:`or_resnet34` with ``syna=True``."""
    return or_resnet34(syna=True, **kwargs)
