"""Pieces every image model of the zoo shares: the input check and the classifier."""

from __future__ import annotations

import torch
from torch import nn

from ..layers import fold


def check_image_sequence(x: object, in_channels: int) -> None:
    """Raise unless ``x`` is a time-major image batch ``[T, B, in_channels, H, W]``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"input must be a tensor [T, B, C, H, W], got {type(x).__name__}")
    if x.dim() != 5 or x.shape[2] != in_channels:
        raise ValueError(
            f"input must be [T, B, {in_channels}, H, W] (time first), got shape {tuple(x.shape)}"
        )


def classifier(features: int, num_classes: int) -> nn.Module:
    """Per-step linear classifier ``[T, B, features] -> [T, B, num_classes]`` (0: none)."""
    if not isinstance(num_classes, int) or num_classes < 0:
        raise ValueError(f"num_classes must be an int >= 0, got {num_classes!r}")
    return fold(nn.Linear(features, num_classes)) if num_classes else nn.Identity()
