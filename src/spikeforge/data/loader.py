"""Batching into time-major tensors: static samples ``[B, ...]``, temporal ``[T, B, ...]``."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset


def is_temporal(dataset: Dataset) -> bool:
    """Whether ``dataset`` yields ``[T, ...]`` samples (its ``temporal`` attribute)."""
    return bool(getattr(dataset, "temporal", False))


def time_major_collate(
    batch: Sequence[tuple[torch.Tensor, Any]], temporal: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(x, label)`` pairs into ``(inputs, labels)``.

    Args:
        batch: samples from one dataset; every ``x`` has the same shape.
        temporal: ``True``: each ``x`` is ``[T, ...]`` and ``inputs`` is ``[T, B, ...]``
            (time first). ``False``: ``inputs`` is ``[B, ...]`` (an encoder adds time
            later). ``None`` guesses from the sample's dims: 3-D ``[C, H, W]`` and 1-D
            samples are static, 2-D ``[T, C]`` and 4-D ``[T, C, H, W]`` temporal;
            :func:`make_loader` passes the dataset's own flag instead of guessing.

    Returns:
        ``inputs`` (float) and int64 ``labels`` ``[B]``.
    """
    if len(batch) == 0:
        raise ValueError("cannot collate an empty batch")
    xs, ys = zip(*batch, strict=True)
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) != 1:
        raise ValueError(
            f"all samples in a batch must have one shape, got {sorted(shapes)}; "
            "fix the number of frames/steps (e.g. frames=..., duration) to batch them"
        )
    stacked = torch.stack([torch.as_tensor(x) for x in xs])  # [B, ...]
    if temporal is None:
        temporal = stacked.dim() - 1 in (2, 4, 5)
    if temporal:
        if stacked.dim() < 3:
            raise ValueError(
                f"temporal samples must be [T, ...] with at least 2 dims, got {tuple(xs[0].shape)}"
            )
        stacked = stacked.transpose(0, 1).contiguous()  # [T, B, ...]
    labels = torch.as_tensor([int(y) for y in ys], dtype=torch.int64)
    return stacked, labels


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    drop_last: bool = False,
    num_workers: int = 0,
    temporal: bool | None = None,
    **kwargs: Any,
) -> DataLoader:
    """A :class:`~torch.utils.data.DataLoader` yielding time-major ``(inputs, labels)``.

    Args:
        dataset: a map-style dataset of ``(x, label)``.
        batch_size: samples per batch ``B``.
        shuffle: reshuffle every epoch, reproducibly from ``seed``.
        seed: seed of the shuffling generator.
        drop_last: drop a last, smaller batch.
        num_workers: worker processes.
        temporal: override the dataset's ``temporal`` flag (see :func:`time_major_collate`).
        **kwargs: passed to ``DataLoader``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    flag = is_temporal(dataset) if temporal is None else temporal
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=num_workers,
        collate_fn=partial(time_major_collate, temporal=flag),
        generator=generator,
        **kwargs,
    )


def sample_indices(length: int, count: int, seed: int = 0) -> torch.Tensor:
    """``min(count, length)`` distinct indices of a dataset, drawn by a seeded permutation
    and sorted.

    For calibration batches, test subsets and measurement batches: many datasets are
    stored sorted by class (folder-per-class image sets such as ``cifar10-small``), so
    "the first N samples" can be a single class. Returns ``[n]`` int64.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    n = min(int(count), int(length))
    if n == length:
        return torch.arange(n)
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(length, generator=generator)[:n].sort().values
