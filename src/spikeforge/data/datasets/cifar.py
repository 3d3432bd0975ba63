"""CIFAR: ``cifar10-small`` (shared JPEGs), ``cifar10`` and ``cifar100`` (pickle batches)."""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..._validation import check_choice
from ..formats.cifar_pickle import read_cifar_batch
from ..formats.image_folder import list_image_folder, read_image
from ..paths import locate, locate_any
from ..registry import DATASETS, check_split
from .base import ArrayDataset, LazyDataset

CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
CIFAR_HINT = "Get the 'python version' archives at https://www.cs.toronto.edu/~kriz/cifar.html."


@DATASETS.register("cifar10-small")
def cifar10_small(split: str = "train", data_dir: str | None = None) -> LazyDataset:
    """CIFAR-10 JPEGs: 10,000 train (1,000/class) / the 10,000 test images (lossy q≈75).

    Files ``cifar10_jpg/{train,test}/<class>/NNNN.jpg``; samples ``[3, 32, 32]`` in
    ``[0, 1]``, decoded on first access (needs Pillow).
    """
    check_split(split)
    rel = f"cifar10_jpg/{split}"
    root = locate("cifar10-small", [rel], data_dir=data_dir)
    paths, labels, classes = list_image_folder(root / rel, CIFAR10_CLASSES)

    def load(index: int) -> torch.Tensor:
        pixels = read_image(paths[index]).astype(np.float32) / 255.0
        return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()

    return LazyDataset(load, labels, classes, files=paths)


@functools.lru_cache(maxsize=4)
def _batches(paths: tuple[str, ...], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    parts = [read_cifar_batch(p, label_key) for p in paths]
    images = np.concatenate([p[0] for p in parts])
    images.setflags(write=False)
    return images, np.concatenate([p[1] for p in parts])


@DATASETS.register("cifar10")
def cifar10(split: str = "train", data_dir: str | None = None) -> ArrayDataset:
    """Full CIFAR-10 from ``cifar-10-batches-py/{data_batch_1..5,test_batch}``.

    The folder may sit directly in the data folder or under ``cifar10/``. Samples
    ``[3, 32, 32]`` in ``[0, 1]``.
    """
    check_split(split)
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    alternatives = [[f"{base}cifar-10-batches-py/{n}" for n in names] for base in ("", "cifar10/")]
    root, k = locate_any("cifar10", alternatives, data_dir=data_dir, hint=CIFAR_HINT)
    images, labels = _batches(tuple(str(root / rel) for rel in alternatives[k]), "labels")
    return ArrayDataset(images, labels, CIFAR10_CLASSES, scale=1.0 / 255.0)


@DATASETS.register("cifar100")
def cifar100(
    split: str = "train", data_dir: str | None = None, labels: str = "fine"
) -> ArrayDataset:
    """Full CIFAR-100 from ``cifar-100-python/{train,test}`` (or under ``cifar100/``).

    Args:
        labels: ``"fine"`` (100 classes) or ``"coarse"`` (20 super-classes).

    Samples ``[3, 32, 32]`` in ``[0, 1]``; class names are the label numbers.
    """
    check_split(split)
    check_choice(labels, "labels", ("fine", "coarse"))
    alternatives = [[f"{base}cifar-100-python/{split}"] for base in ("", "cifar100/")]
    root, k = locate_any("cifar100", alternatives, data_dir=data_dir, hint=CIFAR_HINT)
    images, targets = _batches((str(root / alternatives[k][0]),), f"{labels}_labels")
    n_classes = 100 if labels == "fine" else 20
    return ArrayDataset(images, targets, [str(i) for i in range(n_classes)], scale=1.0 / 255.0)
