r"""Masked-image pretraining model of Spikformer V2 (METHODS §13): the spiking V2 encoder
in sparse mode plus a light non-spiking transformer decoder that reconstructs pixels.

Per sample, ``K = int(N·(1 − mask_ratio))`` of the ``N = h·w`` tokens stay visible
(:func:`random_visible`: the ``K`` smallest of ``N`` uniform draws, so every sample keeps
exactly ``K`` and the choice is uniform). The encoder
(:class:`~.spikformer_v2.SpikformerV2`, ``num_classes=0``) sees the image with that mask
(sparse conv and sparse BN in every stem stage, only the visible tokens in the blocks) at
whatever T the input has (``data.timesteps``, T = 1 in the pretraining configs); its
tokens are averaged over time, ``[B, K, D]``.

The decoder (:class:`MAEDecoder`, ANN): ``Linear(D, d)`` of the visible tokens, a
learnable mask token at every masked position, learnable positional embeddings of all
``N`` positions, ``decoder_depth`` pre-norm transformer layers (softmax attention, GELU
MLP), LayerNorm and ``Linear(d, p²·C)``: the pixels of every patch ``[B, N, p²·C]``.

Loss (:func:`reconstruction_loss`): the mean squared error per patch, averaged over the
masked patches only. The target is the input's time mean (the image itself for the
direct encoder) cut into patches (:func:`patchify`); ``norm_pix_loss=True`` (default, as
MAE): each target patch is normalised by its own mean and variance (population variance,
``eps = 1e-6``) — the choice METHODS §13 marks *verify*; ``False``: raw pixels.

After pretraining only ``encoder.*`` is kept: ``spikformer_v2(pretrained=CKPT)`` loads it
(:func:`~.spikformer_v2.load_pretrained_encoder`), the decoder is dropped.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .registry import MODELS
from .spikformer_v2 import SpikformerV2, keep_indices, spikformer_v2


def random_visible(
    batch: int,
    grid: tuple[int, int],
    ratio: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A random token mask ``[batch, h, w]`` (1 visible, 0 masked) with exactly
    ``int(h·w·(1 − ratio))`` visible tokens per sample (CPU, from ``generator`` or the
    global RNG)."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"mask_ratio must lie in [0, 1), got {ratio}")
    h, w = grid
    count = h * w
    keep = int(count * (1.0 - ratio))
    if keep < 1:
        raise ValueError(f"mask_ratio {ratio} leaves no visible token of {count}")
    noise = torch.rand(batch, count, generator=generator)
    chosen = noise.argsort(dim=1)[:, :keep]
    visible = torch.zeros(batch, count)
    visible.scatter_(1, chosen, 1.0)
    return visible.reshape(batch, h, w)


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """``[B, C, H, W]`` -> ``[B, N, p·p·C]`` (tokens row-major, pixels ``(py, px, c)``)."""
    b, c, h, w = images.shape
    if h % patch or w % patch:
        raise ValueError(f"image {h}x{w} is not divisible by the patch size {patch}")
    x = images.reshape(b, c, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // patch) * (w // patch), patch * patch * c)


def unpatchify(
    patches: torch.Tensor, patch: int, channels: int, grid: tuple[int, int]
) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``[B, N, p·p·C]`` -> ``[B, C, h·p, w·p]``."""
    b = patches.shape[0]
    h, w = grid
    x = patches.reshape(b, h, w, patch, patch, channels)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(b, channels, h * patch, w * patch)


def normalised_patches(target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each patch ``[..., P]`` minus its mean, over ``sqrt(var + eps)`` (population var)."""
    mean = target.mean(-1, keepdim=True)
    var = target.var(-1, keepdim=True, unbiased=False)
    return (target - mean) / (var + eps).sqrt()


def reconstruction_loss(
    pred: torch.Tensor, target: torch.Tensor, visible: torch.Tensor, norm_pix: bool = True
) -> torch.Tensor:
    """Mean over masked patches of the per-patch MSE.

    Args:
        pred, target: ``[B, N, P]`` predicted and true patches.
        visible: ``[B, N]`` or ``[B, h, w]``, 1 visible / 0 masked.
        norm_pix: compare with :func:`normalised_patches` of the target.
    """
    if norm_pix:
        target = normalised_patches(target)
    per_patch = (pred - target).pow(2).mean(-1)  # [B, N]
    masked = 1.0 - visible.reshape(per_patch.shape).to(per_patch)
    return (per_patch * masked).sum() / masked.sum().clamp_min(1.0)


class MAEDecoder(nn.Module):
    """Non-spiking decoder: visible tokens ``[B, K, enc_dim]`` and their indices
    ``[B, K]`` -> pixels of every patch ``[B, N, patch_dim]``."""

    def __init__(
        self,
        enc_dim: int,
        tokens: int,
        patch_dim: int,
        dim: int = 128,
        depth: int = 2,
        heads: int = 4,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"decoder_dim ({dim}) must be divisible by decoder_heads ({heads})")
        self.embed = nn.Linear(enc_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.position = nn.Parameter(torch.zeros(1, tokens, dim))
        nn.init.normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.position, std=0.02)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim,
                heads,
                int(dim * mlp_ratio),
                dropout=0.0,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.predict = nn.Linear(dim, patch_dim)

    def forward(self, latent: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        batch, _, _ = latent.shape
        tokens, dim = self.position.shape[1], self.position.shape[2]
        full = self.mask_token.expand(batch, tokens, dim)
        index = keep.to(latent.device)[..., None].expand(-1, -1, dim)
        x = full.scatter(1, index, self.embed(latent)) + self.position
        for layer in self.layers:
            x = layer(x)
        return self.predict(self.norm(x))


class SpikformerV2MAE(nn.Module):
    """Encoder + decoder + masking + loss (see the module docstring).

    ``forward(x [T, B, C, H, W], visible [B, h, w] | None)`` returns ``{"loss": scalar,
    "pred": [B, N, p²C], "visible": [B, h, w]}`` (a random mask from the global RNG when
    ``visible`` is None).
    """

    def __init__(
        self,
        encoder: SpikformerV2,
        input_size: int,
        decoder_dim: int = 128,
        decoder_depth: int = 2,
        decoder_heads: int = 4,
        mask_ratio: float = 0.75,
        norm_pix_loss: bool = True,
    ) -> None:
        super().__init__()
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must lie in [0, 1), got {mask_ratio}")
        self.encoder = encoder
        self.patch = encoder.patch_size
        self.grid = (input_size // self.patch, input_size // self.patch)
        self.mask_ratio, self.norm_pix_loss = float(mask_ratio), bool(norm_pix_loss)
        patch_dim = self.patch * self.patch * encoder.in_channels
        self.decoder = MAEDecoder(
            encoder.embed_dim,
            self.grid[0] * self.grid[1],
            patch_dim,
            decoder_dim,
            decoder_depth,
            decoder_heads,
        )

    def random_visible(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """A mask ``[batch, h, w]`` of this model's grid and ``mask_ratio`` (CPU)."""
        return random_visible(batch, self.grid, self.mask_ratio, generator)

    def forward(
        self, x: torch.Tensor, visible: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        if visible is None:
            visible = self.random_visible(x.shape[1])
        visible = visible.to(x.device)
        latent = self.encoder.forward_tokens(x, visible).mean(0)  # [B, K, D]
        pred = self.decoder(latent, keep_indices(visible))
        target = patchify(x.mean(0), self.patch)
        loss = reconstruction_loss(pred, target, visible, self.norm_pix_loss)
        return {"loss": loss, "pred": pred, "visible": visible}

    def reconstruct(self, pred: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Predicted patches ``[B, N, P]`` as images ``[B, C, H, W]`` in the pixel scale of
        ``images`` ``[B, C, H, W]`` (with ``norm_pix_loss`` each patch is mapped back
        with the true patch's mean and std, as MAE's visualisation does)."""
        if self.norm_pix_loss:
            target = patchify(images, self.patch)
            mean = target.mean(-1, keepdim=True)
            std = (target.var(-1, keepdim=True, unbiased=False) + 1e-6).sqrt()
            pred = pred * std + mean
        return unpatchify(pred, self.patch, images.shape[1], self.grid)


#: Decoder sizes by encoder preset: a light decoder for ``tiny``; for the paper-size
#: presets d = 256 with 4 layers (3.5 M parameters; the paper's decoder has 3.41 M).
DECODER_PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"decoder_dim": 64, "decoder_depth": 1, "decoder_heads": 4},
    "paper": {"decoder_dim": 256, "decoder_depth": 4, "decoder_heads": 8},
}


@MODELS.register("spikformer_v2_mae")
def spikformer_v2_mae(
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int = 32,
    preset: str | None = None,
    mask_ratio: float = 0.75,
    norm_pix_loss: bool = True,
    **kwargs: Any,
) -> SpikformerV2MAE:
    """Spikformer V2 masked-image pretraining model: sparse V2 encoder + pixel decoder.

    ``preset`` (see :data:`~.spikformer_v2.PRESETS`) sizes the
    encoder and the decoder (:data:`DECODER_PRESETS`); ``decoder_dim``,
    ``decoder_depth``, ``decoder_heads`` override the decoder's, every other option goes
    to :func:`~.spikformer_v2.spikformer_v2` (``num_classes`` is ignored: the encoder
    has no classifier)."""
    del num_classes  # pretraining has no labels
    if kwargs.pop("pretrained", None):
        raise ValueError("spikformer_v2_mae pretrains from scratch: drop model.kwargs.pretrained")
    decoder = dict(DECODER_PRESETS["tiny" if preset in (None, "tiny") else "paper"])
    decoder.update({k: kwargs.pop(k) for k in list(kwargs) if k in decoder})
    encoder = spikformer_v2(0, in_channels, input_size, preset=preset, **kwargs)
    return SpikformerV2MAE(
        encoder,
        input_size,
        decoder["decoder_dim"],
        decoder["decoder_depth"],
        decoder["decoder_heads"],
        mask_ratio,
        norm_pix_loss,
    )


@MODELS.register("spikformer_v2_mae_tiny")
def spikformer_v2_mae_tiny(
    num_classes: int = 10, in_channels: int = 3, input_size: int = 32, **kwargs: Any
) -> SpikformerV2MAE:
    """:func:`spikformer_v2_mae` with ``preset="tiny"`` (pairs with ``spikformer_v2_tiny``)."""
    return spikformer_v2_mae(num_classes, in_channels, input_size, preset="tiny", **kwargs)
