r"""Spikformer V2 (Zhou et al., 2024, arXiv 2401.02020; METHODS §13): the Spiking
Convolutional Stem (SCS) in front of Spikformer v1's encoder blocks.

``[T, B, C, H, W]`` -> SCS -> tokens ``[T, B, N, D]`` -> ``depth`` Spikformer blocks
(v1's :class:`~.spikformer.SpikformerBlock`: SSA without softmax, spiking MLP) -> token
mean -> per-step linear classifier ``[T, B, classes]``.

**SCS** (``stages`` stages, each halving the resolution, then a relative position
embedding). Stage ``i`` (width ``w_i = D / 2^(stages-1-i)``, the last one ``D``):

1. ``SN(BN(Conv3×3 stride 2))`` ``C_{i-1} -> w_i`` — the strided conv + BN that replaces
   v1's max-pool;
2. ``SN(BN(Conv3×3))`` ``w_i -> r·w_i`` (expand) and ``SN(BN(Conv3×3))`` ``r·w_i -> w_i``
   (reduce back), ``r = expand_ratio``;

then ``x + SN(BN(Conv3×3 x))`` (the RPE, as v1). Choices (METHODS §13 marks them
*verify*; there is no official V2 code): ``expand_ratio`` defaults to 2 (a config
option); every conv is followed by BN then the neuron (Conv-BN-SN, v1's order, so each
stage passes spikes on) — ``stem_order="sn_conv_bn"`` puts the neuron first instead
(MS-ResNet's pre-activation order); no residual around expand/reduce (v1's stem has none).
The token grid is ``H / 2^stages``: ``stages=4`` on 224 px gives the paper's 14×14
(mask factors ×8, ×4, ×2, ×1 for stages 1-4), ``stages=2`` on CIFAR's 32 px the 8×8 of
Spikformer v1 on CIFAR, ``stages=1`` on 8 px digits 4×4.

**Sparse mode** (masked pretraining, :mod:`.spikformer_v2_mae`): every forward takes an
optional ``visible`` ``[B, h, w]`` (1 = kept token, 0 = masked) on the token grid. It is
upsampled to every stage's resolution (:func:`upsample_mask`); the input pixels of masked
patches are zeroed, every conv output is multiplied by the mask at its resolution (sparse
conv), BN statistics are taken over visible positions only and masked positions set to
exactly 0 (:func:`sparse_batch_norm`), and the neurons' outputs are multiplied by the mask
too, so masked positions never spike whatever the neuron. Then only the visible tokens
(the same count in every sample) enter the transformer blocks. Nothing masked can reach
a visible output, so perturbing masked pixels leaves the encoder's output unchanged.
Without ``visible`` the same modules run densely (fine-tuning), and a pretrained
encoder's state loads as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..neurons.registry import NeuronLike
from ..surrogates import SurrogateLike
from ._common import check_image_sequence, classifier, neuron_settings
from .registry import MODELS
from .spikformer import SpikformerBlock, SpikingMLPBlock, SpikingSelfAttention


def upsample_mask(visible: torch.Tensor, factor: int) -> torch.Tensor:
    """``[B, h, w]`` -> ``[B, h·factor, w·factor]``, each entry repeated into a
    ``factor × factor`` block (nearest neighbour)."""
    if visible.dim() != 3:
        raise ValueError(f"visible must be [B, h, w], got shape {tuple(visible.shape)}")
    if factor == 1:
        return visible
    return visible.repeat_interleave(factor, 1).repeat_interleave(factor, 2)


def keep_indices(visible: torch.Tensor) -> torch.Tensor:
    """Flat indices ``[B, K]`` (ascending) of the visible tokens of ``visible``
    ``[B, h, w]``; every sample must keep the same number ``K``."""
    flat = visible.flatten(1) != 0
    counts = flat.sum(1)
    if counts.numel() and not bool((counts == counts[0]).all()):
        raise ValueError(f"every sample must keep the same number of tokens, got {counts.tolist()}")
    keep = int(counts[0]) if counts.numel() else 0
    return flat.nonzero()[:, 1].reshape(visible.shape[0], keep)


def _frame_mask(visible: torch.Tensor, steps: int, like: torch.Tensor) -> torch.Tensor:
    """``[B, h, w]`` -> ``[steps·B, 1, h, w]`` in the order of ``x.flatten(0, 1)`` of a
    ``[T, B, ...]`` tensor (time major), dtype and device of ``like``."""
    if tuple(visible.shape[1:]) != tuple(like.shape[-2:]):
        raise ValueError(
            f"mask {tuple(visible.shape[1:])} does not match the feature map "
            f"{tuple(like.shape[-2:])}"
        )
    return visible.to(like).repeat(steps, 1, 1).unsqueeze(1)


def sparse_batch_norm(x: torch.Tensor, mask: torch.Tensor, norm: nn.BatchNorm2d) -> torch.Tensor:
    """``norm`` applied with statistics over the visible positions only.

    Args:
        x: ``[N, C, H, W]``.
        mask: ``[N, 1, H, W]``, 1 visible / 0 masked.
        norm: supplies affine parameters and running statistics (updated in training
            mode exactly as ``nn.BatchNorm2d`` does, from the visible positions: biased
            variance to normalise, unbiased into ``running_var``).

    Returns ``[N, C, H, W]``, exactly 0 at masked positions. With an all-ones mask this is
    ``norm(x)``. The statistics are this process's own: under several processes a
    ``SyncBatchNorm`` (DDP on CUDA) is used for its parameters only, not synchronised.
    """
    if norm.training or not norm.track_running_stats:
        count = mask.sum()
        if count < 2:
            raise ValueError(f"sparse BN needs at least 2 visible positions, got {int(count)}")
        mean = (x * mask).sum((0, 2, 3)) / count
        centred = (x - mean[None, :, None, None]) * mask
        var = (centred * centred).sum((0, 2, 3)) / count
        if norm.training and norm.track_running_stats:
            with torch.no_grad():
                norm.num_batches_tracked.add_(1)
                momentum = norm.momentum
                if momentum is None:  # cumulative average, as nn.BatchNorm2d
                    momentum = 1.0 / float(norm.num_batches_tracked)
                unbiased = var * count / (count - 1)
                norm.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                norm.running_var.mul_(1 - momentum).add_(momentum * unbiased.detach())
    else:
        mean, var = norm.running_mean, norm.running_var
    y = (x - mean[None, :, None, None]) * torch.rsqrt(var[None, :, None, None] + norm.eps)
    if norm.affine:
        y = y * norm.weight[None, :, None, None] + norm.bias[None, :, None, None]
    return y * mask


#: Where the neuron sits in each stem layer (``stem_order``): ``"conv_bn_sn"`` (default,
#: Spikformer v1's order: every layer passes spikes on) or ``"sn_conv_bn"`` (the neuron
#: first, MS-ResNet's pre-activation order: layers pass BN outputs on, the first one
#: spikes the image itself).
STEM_ORDERS = ("conv_bn_sn", "sn_conv_bn")


class ConvBNSpiking(nn.Module):
    """``SN(BN(Conv3×3))`` (or ``BN(Conv3×3(SN))``, ``order="sn_conv_bn"``) on
    ``[T, B, C, H, W]``; with ``visible`` sparse (see the module docstring): conv output
    × mask, sparse BN, spikes × the mask at the neuron's resolution."""

    def __init__(
        self, c_in: int, c_out: int, make_neuron: Any, stride: int = 1, order: str = "conv_bn_sn"
    ) -> None:
        super().__init__()
        if order not in STEM_ORDERS:
            raise ValueError(f"stem_order must be one of {STEM_ORDERS}, got {order!r}")
        self.order, self.stride = order, stride
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(c_out)
        self.neuron = make_neuron()

    def _conv_bn(self, x: torch.Tensor, visible: torch.Tensor | None) -> torch.Tensor:
        steps, batch = x.shape[:2]
        y = self.conv(x.flatten(0, 1))
        if visible is None:
            return self.norm(y).unflatten(0, (steps, batch))
        mask = _frame_mask(visible, steps, y)
        return sparse_batch_norm(y * mask, mask, self.norm).unflatten(0, (steps, batch))

    def _spike(self, x: torch.Tensor, visible: torch.Tensor | None) -> torch.Tensor:
        spikes = self.neuron(x)
        if visible is None:
            return spikes
        return spikes * _frame_mask(visible, x.shape[0], x).unflatten(0, x.shape[:2])

    def forward(self, x: torch.Tensor, visible: torch.Tensor | None = None) -> torch.Tensor:
        """``[T, B, C_in, H, W]`` -> ``[T, B, C_out, H', W']`` (spikes, or BN outputs for
        ``sn_conv_bn``); ``visible`` ``[B, H', W']`` at the output's resolution."""
        if self.order == "conv_bn_sn":
            return self._spike(self._conv_bn(x, visible), visible)
        before = None if visible is None else upsample_mask(visible, self.stride)
        return self._conv_bn(self._spike(x, before), visible)


class SCSStage(nn.Module):
    """One SCS stage: strided down-sampling conv, channel expansion, reduction."""

    def __init__(
        self,
        c_in: int,
        width: int,
        expand_ratio: float,
        make_neuron: Any,
        order: str = "conv_bn_sn",
    ) -> None:
        super().__init__()
        hidden = max(1, round(width * expand_ratio))
        self.down = ConvBNSpiking(c_in, width, make_neuron, stride=2, order=order)
        self.expand = ConvBNSpiking(width, hidden, make_neuron, order=order)
        self.reduce = ConvBNSpiking(hidden, width, make_neuron, order=order)

    def forward(self, x: torch.Tensor, visible: torch.Tensor | None = None) -> torch.Tensor:
        """``[T, B, C, H, W]`` -> ``[T, B, width, H/2, W/2]`` (``visible`` at H/2)."""
        return self.reduce(self.expand(self.down(x, visible), visible), visible)


class SpikingConvStem(nn.Module):
    """The SCS: ``stages`` stride-2 stages to ``embed_dim`` channels, then the RPE.

    ``factors[i]``: the upsampling of the token-grid mask to stage ``i``'s resolution
    (``2^(stages-1-i)``); ``patch_size = 2^stages`` pixels per token side.
    """

    def __init__(
        self,
        in_channels: int,
        embed_dim: int,
        stages: int,
        expand_ratio: float,
        make_neuron: Any,
        order: str = "conv_bn_sn",
    ) -> None:
        super().__init__()
        if not isinstance(stages, int) or stages < 1:
            raise ValueError(f"stages must be a positive int, got {stages!r}")
        if embed_dim % 2 ** (stages - 1):
            raise ValueError(
                f"embed_dim ({embed_dim}) must be divisible by 2^(stages-1) = {2 ** (stages - 1)}"
            )
        if expand_ratio <= 0:
            raise ValueError(f"expand_ratio must be > 0, got {expand_ratio}")
        widths = [embed_dim // 2 ** (stages - 1 - i) for i in range(stages)]
        channels, blocks = in_channels, []
        for width in widths:
            blocks.append(SCSStage(channels, width, expand_ratio, make_neuron, order))
            channels = width
        self.stages = nn.ModuleList(blocks)
        self.rpe = ConvBNSpiking(embed_dim, embed_dim, make_neuron, order=order)
        self.factors = [2 ** (stages - 1 - i) for i in range(stages)]
        self.patch_size = 2**stages

    def forward(self, x: torch.Tensor, visible: torch.Tensor | None = None) -> torch.Tensor:
        """``[T, B, C, H, W]`` -> ``[T, B, embed_dim, H/p, W/p]`` (``p = patch_size``);
        ``visible`` ``[B, H/p, W/p]``."""
        if visible is not None:
            pixels = upsample_mask(visible, self.patch_size)
            x = x * _frame_mask(pixels, x.shape[0], x).unflatten(0, x.shape[:2])
        for stage, factor in zip(self.stages, self.factors, strict=True):
            x = stage(x, None if visible is None else upsample_mask(visible, factor))
        return x + self.rpe(x, visible)


class SpikformerV2(nn.Module):
    """See the module docstring. ``forward_tokens`` gives the blocks' tokens (visible
    ones only under a mask), ``forward_features`` their mean ``[T, B, embed_dim]``."""

    readout_kind = "membrane"  # outputs: the linear head's analog values

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        embed_dim: int = 256,
        depth: int = 2,
        heads: int = 8,
        mlp_ratio: float = 4.0,
        stages: int = 2,
        expand_ratio: float = 2.0,
        neuron: NeuronLike = "lif",
        neuron_kwargs: Mapping[str, Any] | None = None,
        surrogate: SurrogateLike | None = None,
        attn_v_th: float | None = 0.5,
        stem_order: str = "conv_bn_sn",
    ) -> None:
        super().__init__()
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive int, got {depth!r}")
        make_neuron = neuron_settings(neuron, surrogate, neuron_kwargs)
        attn_options = {} if attn_v_th is None else {"v_th": attn_v_th}
        self.in_channels, self.embed_dim = in_channels, embed_dim
        self.stem = SpikingConvStem(
            in_channels, embed_dim, stages, expand_ratio, make_neuron, stem_order
        )
        hidden = int(embed_dim * mlp_ratio)
        self.blocks = nn.Sequential(*(
            SpikformerBlock(
                SpikingSelfAttention(embed_dim, heads, make_neuron, make_neuron(**attn_options)),
                SpikingMLPBlock(embed_dim, hidden, make_neuron),
            )
            for _ in range(depth)
        ))  # fmt: skip
        self.head = classifier(embed_dim, num_classes)

    @property
    def patch_size(self) -> int:
        """Pixels per token side (``2^stages``)."""
        return self.stem.patch_size

    def forward_tokens(self, x: torch.Tensor, visible: torch.Tensor | None = None) -> torch.Tensor:
        """``[T, B, C, H, W]`` -> tokens ``[T, B, N, D]``; with ``visible`` ``[B, h, w]``
        only the ``K`` visible ones, ``[T, B, K, D]`` (ascending token order)."""
        check_image_sequence(x, self.in_channels)
        p = self.patch_size
        if x.shape[-1] % p or x.shape[-2] % p:
            raise ValueError(
                f"input {tuple(x.shape[-2:])} px is not divisible by the patch size {p} (2^stages)"
            )
        if visible is not None and tuple(visible.shape) != (
            x.shape[1], x.shape[-2] // p, x.shape[-1] // p
        ):  # fmt: skip
            raise ValueError(
                f"visible must be [B, H/{p}, W/{p}] = "
                f"{[x.shape[1], x.shape[-2] // p, x.shape[-1] // p]}, got {list(visible.shape)}"
            )
        grid = self.stem(x, visible)
        tokens = grid.flatten(3).transpose(2, 3)  # [T, B, N, D]
        if visible is not None:
            index = keep_indices(visible).to(x.device)
            index = index[None, :, :, None].expand(x.shape[0], -1, -1, tokens.shape[-1])
            tokens = tokens.gather(2, index)
        return self.blocks(tokens)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` -> token mean ``[T, B, embed_dim]``."""
        return self.forward_tokens(x).mean(2)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``[T, B, embed_dim]`` -> ``[T, B, num_classes]`` (unchanged if ``pre_logits``)."""
        return x if pre_logits else self.head(x)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier (``0`` removes it)."""
        self.head = classifier(self.embed_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` -> per-step class scores ``[T, B, num_classes]``."""
        return self.forward_head(self.forward_features(x))


def load_pretrained_encoder(model: SpikformerV2, path: str | Path) -> None:
    """Load the encoder of a masked-pretraining checkpoint (a ``spikformer_v2_mae`` run:
    its model state's ``encoder.*`` entries) into ``model``; the decoder is left out and
    the classifier keeps its fresh initialisation."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"pretrained checkpoint {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or not a torch file
        raise ValueError(f"pretrained checkpoint {str(path)!r} cannot be read: {exc}") from None
    state = payload.get("model") if isinstance(payload, dict) else None
    if not isinstance(state, Mapping):
        raise ValueError(f"{str(path)!r} is not a spikeforge run checkpoint (no 'model' entry)")
    encoder = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    if not encoder:
        raise ValueError(
            f"{str(path)!r} has no encoder.* weights: expected the checkpoint of a "
            "spikformer_v2_mae pretraining run"
        )
    own = model.state_dict()
    wrong = [
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in encoder.items()
        if k in own and v.shape != own[k].shape
    ]
    missing = [k for k in own if k not in encoder and not k.startswith("head.")]
    unexpected = [k for k in encoder if k not in own]
    if wrong or missing or unexpected:
        raise ValueError(
            f"the encoder in {str(path)!r} does not fit this spikformer_v2 (same embed_dim, "
            f"depth, heads, stages, expand_ratio, neuron needed): shapes {wrong[:3]}, "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    # the neuron's place leaves no trace in the weights' shapes: check it from the config
    kwargs = ((payload.get("config") or {}).get("model") or {}).get("kwargs") or {}
    saved = kwargs.get("stem_order", STEM_ORDERS[0])
    order = model.stem.rpe.order
    if saved != order:
        raise ValueError(
            f"the encoder in {str(path)!r} was pretrained with stem_order={saved!r}, this "
            f"model has stem_order={order!r}: set model.kwargs.stem_order={saved}"
        )
    model.load_state_dict(encoder, strict=False)


def _default_stages(input_size: int) -> int:
    return 4 if input_size >= 128 else 2 if input_size >= 16 else 1


#: Sizes by ``preset``: ``tiny`` for CPU runs on 32×32 / 8×8 inputs; ``D-L`` presets
#: (``L`` blocks of width ``D``) as the paper names its models; on 224 px input they get
#: 4 SCS stages (14×14 tokens). The paper's 172 M 16-layer model's width is not in the
#: spec: ``spikformer_v2(depth=16, embed_dim=...)``.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"embed_dim": 64, "depth": 1, "heads": 4},
    "8_384": {"embed_dim": 384, "depth": 8, "heads": 12},
    "8_512": {"embed_dim": 512, "depth": 8, "heads": 8},
    "8_768": {"embed_dim": 768, "depth": 8, "heads": 12},
}


def preset_sizes(preset: str | None) -> dict[str, Any]:
    """The sizes of ``preset`` (``None``: none, the class defaults)."""
    if preset is None:
        return {}
    if preset not in PRESETS:
        raise ValueError(f"unknown spikformer_v2 preset {preset!r}; presets: {sorted(PRESETS)}")
    return dict(PRESETS[preset])


@MODELS.register("spikformer_v2")
def spikformer_v2(
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int = 32,
    pretrained: str | None = None,
    preset: str | None = None,
    **kwargs: Any,
) -> SpikformerV2:
    """Spikformer V2: spiking conv stem (SCS) + Spikformer blocks; sizes by ``preset``.

    ``preset`` picks sizes from :data:`PRESETS` (kwargs override them).
    ``stages`` defaults to 4 for inputs of 128 px or more (224 -> 14×14 tokens, as the
    paper), 2 from 16 px (32 -> 8×8) and 1 below (8 -> 4×4). ``pretrained``: a
    ``spikformer_v2_mae`` checkpoint whose encoder is loaded
    (:func:`load_pretrained_encoder`; on resume the run's own checkpoint overwrites it).
    Other options as :class:`SpikformerV2`."""
    kwargs = {**preset_sizes(preset), **kwargs}
    kwargs.setdefault("stages", _default_stages(input_size))
    model = SpikformerV2(num_classes, in_channels, **kwargs)
    if input_size % model.patch_size:
        raise ValueError(
            f"input_size {input_size} is not divisible by the patch size {model.patch_size} "
            f"(2^stages, stages={kwargs['stages']})"
        )
    if pretrained:
        load_pretrained_encoder(model, pretrained)
    return model


@MODELS.register("spikformer_v2_tiny")
def spikformer_v2_tiny(
    num_classes: int = 10, in_channels: int = 3, input_size: int = 32, **kwargs: Any
) -> SpikformerV2:
    """:func:`spikformer_v2` with ``preset="tiny"`` (D = 64, one block, 4 heads)."""
    return spikformer_v2(num_classes, in_channels, input_size, preset="tiny", **kwargs)
