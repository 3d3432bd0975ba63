r"""Joint A-SNN model (Guo et al., Pattern Recognition 2023; METHODS §7.4): one small conv
net with two forward paths — a ReLU ANN and a spiking SNN — that share weight factors.

Weight factorisation: every conv/linear weight is ``W = U Σ Vᵀ`` (thin SVD of the
initial weight, conv weights reshaped to ``[out, in·k·k]``), ``U`` ``[out, r]``,
``V`` ``[in·k·k, r]``, ``r = min(out, in·k·k)``. Both paths use the **same** ``U`` and
``V`` parameters and their own singular values::

    W_ANN = U diag(σ_ANN) Vᵀ,   W_SNN = U diag(σ_SNN) Vᵀ     (σ_ANN = σ_SNN at init)

so gradients of both paths accumulate in ``U``, ``V``. BatchNorm layers and linear
biases are per path (their statistics differ between ReLU activations and spikes).

Architecture (``joint_csnn``), stage ``i`` of ``widths``::

    [2×2 avg pool if i > 0] → 3×3 conv (factorised) → BN_path → ReLU | spiking neuron

and after every stage a classifier branch (global average pool → factorised linear):
branch ``i`` gives both paths' logits, the last branch is the network's output. The SNN
path runs on ``[T, B, C, H, W]`` (stateless layers folded over T·B) and gives per-step
logits ``[T, B, K]``; the ANN path runs on the static image ``x.mean(0)``.

Restriction: Joint A-SNN is implemented for this self-contained conv net only, not for
every zoo model (a zoo model would need each conv/linear replaced by a factorised twin
and its stages exposed as branches).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..neurons.registry import NeuronLike
from ..surrogates import SurrogateLike
from ._common import neuron_settings
from .registry import MODELS

PATHS = ("ann", "snn")


def _check_path(path: str) -> str:
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    return path


class FactorizedWeight(nn.Module):
    """``W_path = U diag(σ_path) Vᵀ`` reshaped to ``shape`` (shared ``U``, ``V``).

    Args:
        weight: the initial weight ``[out, ...]``; its thin SVD initialises the factors.
    """

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.shape = tuple(weight.shape)
        u, s, vh = torch.linalg.svd(weight.detach().reshape(self.shape[0], -1), full_matrices=False)
        self.U = nn.Parameter(u.contiguous())
        self.V = nn.Parameter(vh.T.contiguous())
        self.sigma_ann = nn.Parameter(s.clone())
        self.sigma_snn = nn.Parameter(s.clone())

    def sigma(self, path: str) -> nn.Parameter:
        return self.sigma_ann if _check_path(path) == "ann" else self.sigma_snn

    def forward(self, path: str) -> torch.Tensor:
        """The weight of ``path`` (``"ann"`` or ``"snn"``), shape ``shape``."""
        return ((self.U * self.sigma(path)) @ self.V.T).reshape(self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, rank={self.U.shape[1]}"


class JointConv2d(nn.Module):
    """Bias-free conv with a :class:`FactorizedWeight`; ``forward(x [N, C, H, W], path)``."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 1
    ) -> None:
        super().__init__()
        weight = torch.empty(out_channels, in_channels, kernel_size, kernel_size)
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))  # nn.Conv2d's default
        self.factor = FactorizedWeight(weight)
        self.padding = padding

    def forward(self, x: torch.Tensor, path: str) -> torch.Tensor:
        return F.conv2d(x, self.factor(path), padding=self.padding)


class JointLinear(nn.Module):
    """Linear layer with a :class:`FactorizedWeight` and a bias per path."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        weight = torch.empty(out_features, in_features)
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        self.factor = FactorizedWeight(weight)
        bound = 1.0 / math.sqrt(in_features)
        self.bias_ann = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        self.bias_snn = nn.Parameter(self.bias_ann.detach().clone())

    def forward(self, x: torch.Tensor, path: str) -> torch.Tensor:
        bias = self.bias_ann if _check_path(path) == "ann" else self.bias_snn
        return F.linear(x, self.factor(path), bias)


class JointCSNN(nn.Module):
    """Two-path (ANN/SNN) conv net with shared factors and a branch after every stage.

    ``forward(x [T, B, C, H, W])`` -> SNN output ``[T, B, K]`` (the last branch);
    ``forward(x, joint=True)`` -> dict with, per stage/branch ``i``:
    ``"snn_logits"`` ``[T, B, K]``, ``"ann_logits"`` ``[B, K]``, ``"snn_features"``
    ``[T, B, C_i, H_i, W_i]`` (spikes), ``"ann_features"`` ``[B, C_i, H_i, W_i]`` (ReLU
    outputs); the ANN path sees ``x.mean(0)``.
    """

    readout_kind = "membrane"  # outputs: the SNN path's linear head (see models/output.py)

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int = 8,
        widths: Sequence[int] = (16, 32),
        neuron: NeuronLike = "lif",
        neuron_kwargs: Mapping[str, Any] | None = None,
        surrogate: SurrogateLike | None = None,
    ) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if not widths or any(w < 1 for w in widths):
            raise ValueError(f"widths must be positive ints (one per stage), got {widths}")
        if input_size % (2 ** (len(widths) - 1)):
            raise ValueError(
                f"input_size must be divisible by 2^(stages-1) = {2 ** (len(widths) - 1)} "
                f"(a 2×2 pool before every stage but the first), got {input_size}"
            )
        make_neuron = neuron_settings(neuron, surrogate, neuron_kwargs)
        channels = (in_channels, *widths)
        self.convs = nn.ModuleList(
            JointConv2d(c, w) for c, w in zip(channels[:-1], widths, strict=True)
        )
        self.bn_ann = nn.ModuleList(nn.BatchNorm2d(w) for w in widths)
        self.bn_snn = nn.ModuleList(nn.BatchNorm2d(w) for w in widths)
        self.neurons = nn.ModuleList(make_neuron() for _ in widths)
        self.heads = nn.ModuleList(JointLinear(w, num_classes) for w in widths)
        self.widths = widths

    def factors(self) -> list[FactorizedWeight]:
        """Every factorised weight (convs, then heads)."""
        return [m for m in self.modules() if isinstance(m, FactorizedWeight)]

    def _ann(self, images: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        logits, feats = [], []
        h = images
        for i, conv in enumerate(self.convs):
            if i:
                h = F.avg_pool2d(h, 2)
            h = F.relu(self.bn_ann[i](conv(h, "ann")))
            feats.append(h)
            logits.append(self.heads[i](h.mean(dim=(-2, -1)), "ann"))
        return logits, feats

    def _snn(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        logits, feats = [], []
        h = x
        for i, conv in enumerate(self.convs):
            steps, batch = h.shape[:2]
            flat = h.flatten(0, 1)
            if i:
                flat = F.avg_pool2d(flat, 2)
            current = self.bn_snn[i](conv(flat, "snn")).unflatten(0, (steps, batch))
            h = self.neurons[i](current)
            feats.append(h)
            logits.append(self.heads[i](h.mean(dim=(-2, -1)), "snn"))
        return logits, feats

    def forward_ann(self, images: torch.Tensor) -> torch.Tensor:
        """ANN path on static images ``[B, C, H, W]`` -> ``[B, K]``."""
        return self._ann(images)[0][-1]

    def forward(self, x: torch.Tensor, joint: bool = False) -> Any:
        if x.dim() != 5:
            raise ValueError(
                f"JointCSNN input must be [T, B, C, H, W] (time first), got {tuple(x.shape)}"
            )
        snn_logits, snn_feats = self._snn(x)
        if not joint:
            return snn_logits[-1]
        ann_logits, ann_feats = self._ann(x.mean(0))
        return {
            "snn_logits": snn_logits,
            "ann_logits": ann_logits,
            "snn_features": snn_feats,
            "ann_features": ann_feats,
        }


@MODELS.register("joint_csnn")
def joint_csnn(
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int = 8,
    widths: Sequence[int] = (16, 32),
    neuron: NeuronLike = "lif",
    neuron_kwargs: Mapping[str, Any] | None = None,
    surrogate: SurrogateLike | None = None,
) -> JointCSNN:
    """:class:`JointCSNN` (train it with method ``joint_asnn``)."""
    return JointCSNN(num_classes, in_channels, input_size, widths, neuron, neuron_kwargs, surrogate)
