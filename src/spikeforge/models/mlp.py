r"""Spiking multi-layer perceptron: the fully connected baseline of surrogate-gradient
SNN training (e.g. Neftci, Mostafa & Zenke, IEEE Signal Processing Magazine 2019).

Input ``[T, B, ...]`` (any trailing shape, flattened) -> ``forward_features``
``[T, B, hidden_sizes[-1]]`` spikes -> ``forward_head`` ``[T, B, num_classes]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .._validation import check_sequence
from ..layers import fold
from ..neurons.registry import NeuronLike
from ..surrogates import SurrogateLike
from ._common import neuron_settings
from .registry import MODELS


class SpikingMLP(nn.Module):
    """Linear-[BN]-SN hidden layers and a linear readout.

    Args:
        in_features: size of one flattened time step of one sample.
        num_classes: output classes (``0`` -> no classifier).
        hidden_sizes: widths of the hidden spiking layers (at least one).
        norm: BatchNorm1d after each hidden linear layer (default on: with PyTorch's
            default init an unnormalised deep MLP is silent beyond its first layer).
        neuron: registered neuron name / class / factory, built once per layer; one
            sized by its layer (``rlif``: recurrent weights) gets that layer's width.
        neuron_kwargs: options for every neuron.
        surrogate: surrogate gradient: a name, ``{"name": "atan", "alpha": 4}`` or an
            instance (default atan).
    """

    readout_kind = "membrane"  # outputs: the linear readout's analog values (see models/output.py)

    def __init__(
        self,
        in_features: int,
        num_classes: int = 10,
        hidden_sizes: Sequence[int] = (256,),
        norm: bool = True,
        neuron: NeuronLike = "lif",
        neuron_kwargs: Mapping[str, Any] | None = None,
        surrogate: SurrogateLike | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(in_features, int) or in_features < 1:
            raise ValueError(f"in_features must be a positive int, got {in_features!r}")
        sizes = tuple(hidden_sizes)
        if not sizes or not all(isinstance(n, int) and n >= 1 for n in sizes):
            raise ValueError(f"hidden_sizes must be positive ints (>= 1 layer), got {sizes!r}")
        make_neuron = neuron_settings(neuron, surrogate, neuron_kwargs)
        self.in_features = in_features
        layers: list[nn.Module] = []
        width = in_features
        for size in sizes:
            # With BN the linear bias is redundant (BN re-centres).
            linear = nn.Linear(width, size, bias=not norm)
            layers.append(fold(linear, nn.BatchNorm1d(size)) if norm else fold(linear))
            layers.append(make_neuron(features=size))  # [T, B, size] feature vectors
            width = size
        self.features = nn.Sequential(*layers)
        self.num_features = width
        self.fc = self._classifier(num_classes)

    def _classifier(self, num_classes: int) -> nn.Module:
        if not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be an int >= 0, got {num_classes!r}")
        return fold(nn.Linear(self.num_features, num_classes)) if num_classes else nn.Identity()

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier (``0`` removes it)."""
        self.fc = self._classifier(num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, ...]`` -> hidden spikes ``[T, B, hidden_sizes[-1]]``."""
        check_sequence(x, "SpikingMLP input", min_dim=3)
        flat = x.flatten(2)
        if flat.shape[2] != self.in_features:
            raise ValueError(
                f"SpikingMLP expects {self.in_features} features per step and sample, got "
                f"{flat.shape[2]} from input shape {tuple(x.shape)} ([T, B, ...] expected)"
            )
        return self.features(flat)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``[T, B, hidden]`` -> ``[T, B, num_classes]`` (unchanged if ``pre_logits``)."""
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, ...]`` -> per-step class scores ``[T, B, num_classes]``."""
        return self.forward_head(self.forward_features(x))


@MODELS.register("spiking_mlp")
def spiking_mlp(
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int | Sequence[int] = 28,
    in_features: int | None = None,
    hidden_sizes: Sequence[int] = (256,),
    **kwargs: Any,
) -> SpikingMLP:
    """Spiking MLP on flattened inputs.

    ``in_features`` defaults to ``in_channels · H · W`` with ``input_size`` = side or
    ``(H, W)``; pass ``in_features`` for non-image inputs. Other options (``norm``,
    ``neuron``, ``neuron_kwargs``, ``surrogate``) as :class:`SpikingMLP`.
    """
    if in_features is None:
        sides = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        in_features = in_channels * math.prod(sides)
    return SpikingMLP(in_features, num_classes, hidden_sizes, **kwargs)
