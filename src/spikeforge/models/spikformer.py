r"""Spikformer (Zhou et al., ICLR 2023): a spiking vision transformer.

``[T, B, C, H, W]`` -> Spiking Patch Splitting (Conv-BN-SN stages, max-pooled down to
tokens of ``embed_dim`` channels, plus a Conv-BN-SN relative position embedding added to
them) -> ``depth`` encoder blocks ``x = x + SSA(x); x = x + MLP(x)`` on tokens
``[T, B, N, D]`` -> mean over tokens -> per-step linear classifier ``[T, B, classes]``.

Spiking Self-Attention: ``Q = SN(BN(X W_Q))`` and likewise K and V, all binary; per head
``SN_attn(Q Kᵀ V · s)`` with ``s = 0.125`` and no softmax (every product of spikes is a
count, so the attention is accumulate-only), then ``SN(BN(· W_O))``. The attention
neuron fires at ``attn_v_th`` (0.5 in the paper). MLP: ``SN(BN(· W_1))`` to
``mlp_ratio · D`` and ``SN(BN(· W_2))`` back to D.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..layers import fold
from ..neurons.registry import NeuronLike
from ..surrogates import SurrogateLike
from ._common import check_image_sequence, classifier, neuron_settings
from .registry import MODELS


class TokenLinearBN(nn.Module):
    """Linear (no bias) + BatchNorm1d over the channels of tokens ``[T, B, N, D_in]``."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(d_in, d_out, bias=False)
        self.norm = nn.BatchNorm1d(d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, N, D_in]`` -> ``[T, B, N, D_out]`` (statistics over T·B·N tokens)."""
        y = self.norm(self.linear(x.flatten(0, 2)))
        return y.unflatten(0, x.shape[:3])


class SpikingSelfAttention(nn.Module):
    """SSA over tokens ``[T, B, N, D]`` with ``heads`` heads (D divisible by heads)."""

    def __init__(
        self,
        dim: int,
        heads: int,
        make_neuron: Any,
        attn_neuron: nn.Module,
        scale: float = 0.125,
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"embed_dim ({dim}) must be divisible by heads ({heads})")
        self.heads, self.scale = heads, float(scale)
        self.q, self.k, self.v = (TokenLinearBN(dim, dim) for _ in range(3))
        self.q_sn, self.k_sn, self.v_sn = make_neuron(), make_neuron(), make_neuron()
        self.attn_sn = attn_neuron
        self.proj = TokenLinearBN(dim, dim)
        self.proj_sn = make_neuron()

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, N, D]`` -> ``[T, B, heads, N, D / heads]``."""
        T, B, N, D = x.shape
        return x.reshape(T, B, N, self.heads, D // self.heads).transpose(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self._split(self.q_sn(self.q(x)))
        k = self._split(self.k_sn(self.k(x)))
        v = self._split(self.v_sn(self.v(x)))
        # (Kᵀ V) first: [d, d] per head instead of [N, N]; the same product of counts
        attn = q @ (k.transpose(-2, -1) @ v) * self.scale
        merged = attn.transpose(2, 3).flatten(3)  # [T, B, N, D]
        return self.proj_sn(self.proj(self.attn_sn(merged)))


class SpikingMLPBlock(nn.Module):
    """``SN(BN(· W_1))`` to ``hidden`` then ``SN(BN(· W_2))`` back to ``dim``."""

    def __init__(self, dim: int, hidden: int, make_neuron: Any) -> None:
        super().__init__()
        self.fc1, self.sn1 = TokenLinearBN(dim, hidden), make_neuron()
        self.fc2, self.sn2 = TokenLinearBN(hidden, dim), make_neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sn2(self.fc2(self.sn1(self.fc1(x))))


class SpikformerBlock(nn.Module):
    """``x + SSA(x)``, then ``+ MLP``; tokens ``[T, B, N, D]``."""

    def __init__(self, attention: SpikingSelfAttention, mlp: SpikingMLPBlock) -> None:
        super().__init__()
        self.attention, self.mlp = attention, mlp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(x)
        return x + self.mlp(x)


class SpikingPatchSplitting(nn.Module):
    """Conv-BN-SN stages to ``embed_dim`` channels, the last ``pools`` of them each
    followed by a 3×3/2 max-pool, then tokens ``[T, B, N, D]`` plus a Conv-BN-SN
    relative position embedding of them."""

    def __init__(self, in_channels: int, embed_dim: int, pools: int, make_neuron: Any) -> None:
        super().__init__()
        widths = [embed_dim // 8, embed_dim // 4, embed_dim // 2, embed_dim]
        if min(widths) < 1:
            raise ValueError(f"embed_dim must be at least 8, got {embed_dim}")
        if not 0 <= pools <= len(widths):
            raise ValueError(f"pools must lie in [0, {len(widths)}], got {pools}")
        stages: list[nn.Module] = []
        channels = in_channels
        for i, width in enumerate(widths):
            layers = [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)]
            stages += [fold(*layers), make_neuron()]
            if i >= len(widths) - pools:
                stages.append(fold(nn.MaxPool2d(3, stride=2, padding=1)))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.rpe = nn.Sequential(
            fold(nn.Conv2d(embed_dim, embed_dim, 3, padding=1, bias=False),
                 nn.BatchNorm2d(embed_dim)),
            make_neuron(),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` -> tokens ``[T, B, H'·W', embed_dim]``."""
        x = self.stages(x)
        x = x + self.rpe(x)
        return x.flatten(3).transpose(2, 3)


class Spikformer(nn.Module):
    """See the module docstring. ``forward_features`` gives ``[T, B, embed_dim]`` (the
    token mean), ``forward_head`` the per-step scores."""

    readout_kind = "membrane"  # outputs: the linear head's analog values (see models/output.py)

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        embed_dim: int = 256,
        depth: int = 2,
        heads: int = 8,
        mlp_ratio: float = 4.0,
        pools: int = 2,
        neuron: NeuronLike = "lif",
        neuron_kwargs: Mapping[str, Any] | None = None,
        surrogate: SurrogateLike | None = None,
        attn_v_th: float | None = 0.5,
    ) -> None:
        super().__init__()
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive int, got {depth!r}")
        make_neuron = neuron_settings(neuron, surrogate, neuron_kwargs)
        # the attention neuron's own threshold (a model setting, replacing neuron_kwargs')
        attn_options = {} if attn_v_th is None else {"v_th": attn_v_th}

        self.in_channels, self.embed_dim = in_channels, embed_dim
        self.patches = SpikingPatchSplitting(in_channels, embed_dim, pools, make_neuron)
        hidden = int(embed_dim * mlp_ratio)
        self.blocks = nn.Sequential(*(
            SpikformerBlock(
                SpikingSelfAttention(embed_dim, heads, make_neuron, make_neuron(**attn_options)),
                SpikingMLPBlock(embed_dim, hidden, make_neuron),
            )
            for _ in range(depth)
        ))  # fmt: skip
        self.head = classifier(embed_dim, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` -> token mean ``[T, B, embed_dim]``."""
        check_image_sequence(x, self.in_channels)
        return self.blocks(self.patches(x)).mean(2)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``[T, B, embed_dim]`` -> ``[T, B, num_classes]`` (unchanged if ``pre_logits``)."""
        return x if pre_logits else self.head(x)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier (``0`` removes it)."""
        self.head = classifier(self.embed_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` -> per-step class scores ``[T, B, num_classes]``."""
        return self.forward_head(self.forward_features(x))


@MODELS.register("spikformer")
def spikformer(
    num_classes: int = 10, in_channels: int = 3, input_size: int = 32, **kwargs: Any
) -> Spikformer:
    """Spikformer; ``pools`` defaults to 2 for inputs of 16 px or more (CIFAR's 32 px ->
    8×8 = 64 tokens, as the paper) and to 1 below (8 px digits -> 4×4 tokens). Options as
    :class:`Spikformer` (the paper's CIFAR model: ``embed_dim=384, depth=4, heads=12``)."""
    kwargs.setdefault("pools", 2 if input_size >= 16 else 1)
    return Spikformer(num_classes, in_channels, **kwargs)
