"""Static images -> sequences, e.g. sequential MNIST."""

from __future__ import annotations

import torch

from .._validation import check_choice

SEQUENCE_MODES = ("rows", "pixels")


def image_to_sequence(image: torch.Tensor, mode: str = "rows") -> torch.Tensor:
    """Read an image out as a time series.

    Args:
        image: ``[H, W]`` or ``[1, H, W]``.
        mode: ``"rows"`` gives ``[H, W]`` (one row per step: 28 steps of 28 pixels for
            MNIST); ``"pixels"`` gives ``[H * W, 1]`` (one pixel per step, row-major).

    Returns:
        ``[T, features]``.
    """
    check_choice(mode, "mode", SEQUENCE_MODES)
    if image.dim() == 3 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 2:
        raise ValueError(
            f"image must be [H, W] or [1, H, W] (one channel), got shape {tuple(image.shape)}"
        )
    return image if mode == "rows" else image.reshape(-1, 1)
