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

Two variants (``variant=``):

- ``"zoo"`` (default, :class:`ORBlock`): every block joins with OR; with SynA every
  block gates its residual path and its shortcut (identity shortcuts too), over
  channels by default — works for any ``T``. Kept as the default so existing configs and
  checkpoints keep their meaning and the model keeps the zoo contract (any ``T``).
- ``"official"`` (:class:`OfficialORBlock`): as ``Ym-Shan/ORRC-SynA-natural-pruning``
  builds it (METHODS §15). OR joins **only at the three down-sampling points**
  (``layer2..4[0]``); every other block is plain (no shortcut). With SynA the MA
  (promotion) gate sits after the last BN of every block's residual path, plain blocks
  included, and the IA (inhibition) gate only in the three projection shortcuts
  (``S' = LIF(IA(BN(Conv1×1/2 x)))``); both pool over (C, H, W) per (sample, t) and
  attend over **time** with a shared bias-free MLP ``T -> T/4 -> T`` (so ``num_steps=T``
  is required; the authors use T = 16), output ``ReLU(gate · x)``; the IA gate has no
  opening offset. Without SynA its parameters and state-dict keys equal the zoo's (the
  zoo's identity shortcuts have none). The neuron stays injected; the authors' is LIF
  τ = 2, V_th = 1, ATan — the default — with a detached reset:
  ``neuron_kwargs=OFFICIAL_NEURON``.

Shapes: ``[T, B, C, H, W]`` -> ``[T, B, num_classes]``; ``forward_features`` gives
binary ``[T, B, 8·base_width, H', W']``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from .._validation import check_choice
from ..layers import SynAGate, spike_or
from .registry import MODELS
from .resnet import BlockConfig, SpikingResNet

VARIANTS = ("zoo", "official")

#: The authors' neuron as LIF options (τ = 2, V_th = 1 and ATan are the defaults).
OFFICIAL_NEURON: Mapping[str, Any] = MappingProxyType({"detach_reset": True})


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


class OfficialORBlock(nn.Module):
    """The authors' block: plain where the shape is kept, OR-joined where it
    down-samples. Spikes ``[T, B, C_in, H, W]`` -> spikes ``[T, B, C_out, H/stride,
    W/stride]``.

    ``A = LIF(MA(BN(Conv3×3(LIF(BN(Conv3×3/stride x))))))``; a down-sampling block
    returns ``A OR S'`` with ``S' = LIF(IA(BN(Conv1×1/stride x)))``, a plain block ``A``.

    Args:
        in_channels, out_channels, stride: as a ResNet basic block.
        cfg: neuron factory and norm.
        syna: add the MA gate (every block) and the IA gate (projection shortcuts).
        num_steps: T, required with ``syna`` (the gates' MLP runs over time).
        reduction: the gates' MLP is ``T -> max(1, T // reduction) -> T``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        cfg: BlockConfig,
        syna: bool = False,
        num_steps: int | None = None,
        reduction: int = 4,
    ) -> None:
        super().__init__()
        if syna and (
            not isinstance(num_steps, int) or isinstance(num_steps, bool) or num_steps < 1
        ):
            raise ValueError(
                "the official SynA gates attend over time: pass num_steps=T (a positive "
                f"int; the authors use 16), got {num_steps!r}"
            )
        if not isinstance(reduction, int) or reduction < 1:
            raise ValueError(f"reduction must be a positive int, got {reduction!r}")

        def gate(mode: str) -> nn.Module:
            if not syna:
                return nn.Identity()
            return SynAGate(
                out_channels,
                mode,
                axis="time",
                num_steps=num_steps,
                neuron=cfg.make_neuron() if mode == "inhibit" else None,
                open_bias=None,
                hidden=max(1, int(num_steps) // reduction),  # type: ignore[arg-type]
                rectify=True,
            )

        self.conv1 = cfg.conv_norm(in_channels, out_channels, 3, stride)
        self.sn1 = cfg.make_neuron()
        self.conv2 = cfg.conv_norm(out_channels, out_channels, 3)
        self.promote = gate("promote")  # MA: after the last BN, before the LIF
        self.sn2 = cfg.make_neuron()
        projection = cfg.downsample(in_channels, out_channels, stride)
        self.downsample = (
            None
            if projection is None
            else nn.Sequential(projection, gate("inhibit"), cfg.make_neuron())
        )

    @property
    def joins(self) -> bool:
        """Whether this block has a shortcut and an OR join (down-sampling blocks only)."""
        return self.downsample is not None

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """``A``: binary ``[T, B, C_out, H', W']``."""
        return self.sn2(self.promote(self.conv2(self.sn1(self.conv1(x)))))

    def shortcut(self, x: torch.Tensor) -> torch.Tensor | None:
        """``S'``: binary ``[T, B, C_out, H', W']``, or ``None`` for a plain block."""
        return None if self.downsample is None else self.downsample(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.residual(x)
        shortcut = self.shortcut(x)
        return out if shortcut is None else spike_or(out, shortcut)

    def extra_repr(self) -> str:
        return "join='or'" if self.joins else "plain"


def _or(
    layers: tuple[int, ...],
    syna: bool,
    syna_axis: str | None,
    num_steps: int | None,
    reduction: int,
    variant: str,
    kwargs: dict[str, Any],
) -> SpikingResNet:
    check_choice(variant, "variant", VARIANTS)
    if variant == "official":
        if syna_axis not in (None, "time"):
            raise ValueError(
                "variant='official' gates over time (the authors' gate), got "
                f"syna_axis={syna_axis!r}"
            )
        block = partial(OfficialORBlock, syna=syna, num_steps=num_steps, reduction=reduction)
    else:
        block = partial(
            ORBlock,
            syna=syna,
            syna_axis="channel" if syna_axis is None else syna_axis,
            num_steps=num_steps,
            reduction=reduction,
        )
    return SpikingResNet(block, layers, **kwargs)


@MODELS.register("or_resnet18")
def or_resnet18(
    syna: bool = False,
    syna_axis: str | None = None,
    num_steps: int | None = None,
    reduction: int = 4,
    variant: str = "zoo",
    **kwargs: Any,
) -> SpikingResNet:
    """OR-Spiking ResNet-18 (2-2-2-2); ``variant`` ``"zoo"`` (:class:`ORBlock`; SynA
    options as there, ``syna_axis`` defaults to ``"channel"``) or ``"official"``
    (:class:`OfficialORBlock`; time-axis gates, needs ``num_steps`` with ``syna``); the
    rest as :class:`~spikeforge.models.resnet.SpikingResNet`."""
    return _or((2, 2, 2, 2), syna, syna_axis, num_steps, reduction, variant, kwargs)


@MODELS.register("or_resnet34")
def or_resnet34(
    syna: bool = False,
    syna_axis: str | None = None,
    num_steps: int | None = None,
    reduction: int = 4,
    variant: str = "zoo",
    **kwargs: Any,
) -> SpikingResNet:
    """OR-Spiking ResNet-34 (3-4-6-3); options as :func:`or_resnet18`."""
    return _or((3, 4, 6, 3), syna, syna_axis, num_steps, reduction, variant, kwargs)


@MODELS.register("syna_resnet18")
def syna_resnet18(**kwargs: Any) -> SpikingResNet:
    """SynA-ResNet-18: :func:`or_resnet18` with ``syna=True``."""
    return or_resnet18(syna=True, **kwargs)


@MODELS.register("syna_resnet34")
def syna_resnet34(**kwargs: Any) -> SpikingResNet:
    """SynA-ResNet-34: :func:`or_resnet34` with ``syna=True``."""
    return or_resnet34(syna=True, **kwargs)
