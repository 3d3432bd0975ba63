"""Training-time image augmentation: random crop with zero padding and horizontal flip.

The engine's ``data.augment`` section (``{crop_padding: 4, flip: true}``) builds an
:class:`ImageAugment`, which the trainer applies to each **training** batch of static
images ``[B, C, H, W]`` before the encoder turns it into ``[T, B, C, H, W]``; evaluation,
calibration and the teachers' inputs are never augmented separately (distillation
methods derive the teacher's input from the student's encoded input, so both see the
same augmented images).

Randomness comes only from the generator passed in (the trainer's per-batch generator),
in a fixed order — flip decisions ``[B]`` first, then the crop offsets ``[B]`` rows and
``[B]`` columns — so that a batch is augmented identically in a resumed run. The whole
batch is transformed with tensor operations (one pad, two gathers, one ``where``), no
per-image Python loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

NON_IMAGE = "sequences, events, audio and text"


class ImageAugment:
    """Random crop (zero padding) and horizontal flip of image batches ``[B, C, H, W]``.

    Args:
        crop_padding: ``p >= 0``; each image is zero-padded by ``p`` pixels on every side
            and an ``H×W`` window at a uniformly random offset ``(dy, dx) ∈ [0, 2p]²`` is
            kept (``p = 0``: no crop). Zero is the dataset's own value range's zero (black
            for images in ``[0, 1]``).
        flip: mirror each image left-right with probability ``1/2``.
    """

    def __init__(self, crop_padding: int = 0, flip: bool = False) -> None:
        if isinstance(crop_padding, bool) or not isinstance(crop_padding, int) or crop_padding < 0:
            raise ValueError(f"crop_padding must be an integer >= 0, got {crop_padding!r}")
        if not isinstance(flip, bool):
            raise ValueError(f"flip must be true or false, got {flip!r}")
        self.crop_padding = crop_padding
        self.flip = flip

    @property
    def active(self) -> bool:
        """Whether it changes anything (a no-op augment is skipped by the trainer)."""
        return self.crop_padding > 0 or self.flip

    def __repr__(self) -> str:
        return f"ImageAugment(crop_padding={self.crop_padding}, flip={self.flip})"

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augmented copy of ``images`` ``[B, C, H, W]`` (same shape, dtype and device).

        ``generator``: a CPU ``torch.Generator``; the same state gives the same output.
        """
        if images.dim() != 4:
            raise ValueError(
                f"augmentation needs image batches [B, C, H, W], got {tuple(images.shape)}"
            )
        batch, _, height, width = images.shape
        out = images
        if self.flip:
            mirror = torch.rand(batch, generator=generator) < 0.5
            mirror = mirror.to(images.device).view(batch, 1, 1, 1)
            out = torch.where(mirror, out.flip(-1), out)
        p = self.crop_padding
        if p > 0:
            dy = torch.randint(0, 2 * p + 1, (batch,), generator=generator)
            dx = torch.randint(0, 2 * p + 1, (batch,), generator=generator)
            padded = F.pad(out, (p, p, p, p))
            out = crop(padded, dy.to(images.device), dx.to(images.device), height, width)
        return out


def crop(
    padded: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """Per-image windows: ``padded`` ``[B, C, H', W']``, offsets ``dy``, ``dx`` ``[B]``
    (integers, ``dy + height <= H'``, ``dx + width <= W'``) -> ``[B, C, height, width]``
    with ``out[b, :, i, j] = padded[b, :, dy[b] + i, dx[b] + j]``."""
    batch, channels, _, padded_width = padded.shape
    rows = dy.view(batch, 1) + torch.arange(height, device=padded.device)  # [B, H]
    cols = dx.view(batch, 1) + torch.arange(width, device=padded.device)  # [B, W]
    # two gathers (rows, then columns) instead of a Python loop over the batch
    index = rows.view(batch, 1, height, 1).expand(batch, channels, height, padded_width)
    out = padded.gather(2, index)
    index = cols.view(batch, 1, 1, width).expand(batch, channels, height, width)
    return out.gather(3, index)


def check_image_dataset(dataset: Dataset, name: str) -> None:
    """Refuse augmentation for a dataset whose samples are not static images
    ``[C, H, W]`` (temporal ``[T, ...]`` samples, token sequences, feature vectors)."""
    if getattr(dataset, "temporal", False):
        raise ValueError(
            f"data.augment needs a static image dataset ([C, H, W] samples); {name!r} "
            f"yields temporal [T, ...] samples ({NON_IMAGE} are not augmented): remove "
            "data.augment"
        )
    x = dataset[0][0]
    shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or not x.is_floating_point():
        raise ValueError(
            f"data.augment needs a static image dataset (float [C, H, W] samples); "
            f"{name!r} yields {shape} ({NON_IMAGE} are not augmented): remove data.augment"
        )
