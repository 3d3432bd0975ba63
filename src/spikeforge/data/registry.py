"""The dataset registry and a one-call loader.

A dataset entry is a factory ``(split, data_dir, **options) -> torch.utils.data.Dataset``.
Every dataset yields ``(x, label)``: ``x`` is a float tensor holding either a *static*
sample (``[C, H, W]``; an encoder adds time later) or a *temporal* one (``[T, ...]``),
and ``label`` is an ``int``. :func:`spikeforge.data.loader.make_loader` batches them
time-major (``[T, B, ...]``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.utils.data import Dataset

from .._registry import Registry
from .._validation import check_choice

DatasetFactory = Callable[..., Dataset]

DATASETS: Registry[DatasetFactory] = Registry("dataset")

SPLITS = ("train", "test")


def check_split(split: str) -> str:
    """Check ``split`` is ``"train"`` or ``"test"``."""
    return check_choice(split, "split", SPLITS)


def load_dataset(
    name: str, split: str = "train", data_dir: str | None = None, **options: Any
) -> Dataset:
    """Build the registered dataset ``name`` for ``split``.

    Args:
        name: a name in :data:`DATASETS` (``"digits"``, ``"nmnist-small"``, ...).
        split: ``"train"`` or ``"test"``.
        data_dir: folder holding the files; ``None`` searches ``$SPIKEFORGE_DATA``
            and the shared data folder (see :mod:`spikeforge.data.paths`).
        **options: dataset-specific options (``frames=``, ``mode=``, ...).
    """
    check_split(split)
    return DATASETS.get(name)(split=split, data_dir=data_dir, **options)
