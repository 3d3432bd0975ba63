"""CIFAR-10 / CIFAR-100 "python version" batch files (``data_batch_1``, ``test``, ...).

Each file is a pickled dict with byte-string keys: ``b"data"`` (uint8 ``[N, 3072]``,
the red, green then blue 32x32 planes of each image) and ``b"labels"`` (CIFAR-10) or
``b"fine_labels"`` / ``b"coarse_labels"`` (CIFAR-100). Unpickling is restricted to the
numpy classes these files use, so a tampered file cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
from typing import Any

import numpy as np

from ..errors import DataFileError, read_file_bytes, reading

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name} from a CIFAR batch file "
            "(only numpy arrays, lists, bytes and ints are expected)"
        )


def parse_cifar_batch(buf: bytes, label_key: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """Decode the bytes of one batch file; see :func:`read_cifar_batch`."""
    batch = _NumpyOnlyUnpickler(io.BytesIO(buf), encoding="bytes").load()
    if not isinstance(batch, dict):
        raise DataFileError(f"CIFAR batch must unpickle to a dict, got {type(batch).__name__}")
    key = label_key.encode()
    if b"data" not in batch or key not in batch:
        raise DataFileError(
            f"CIFAR batch lacks b'data' or {key!r}; keys are {sorted(map(repr, batch))}"
        )
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[key], dtype=np.int64).reshape(-1)
    if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != labels.shape[0]:
        raise DataFileError(
            f"CIFAR batch data must be [N, 3072] with N labels, got data {data.shape} "
            f"and {labels.shape[0]} labels"
        )
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar_batch(
    path: str | os.PathLike[str], label_key: str = "labels"
) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR batch file.

    Args:
        path: e.g. ``cifar-10-batches-py/data_batch_1`` or ``cifar-100-python/train``.
        label_key: ``"labels"`` (CIFAR-10), ``"fine_labels"`` or ``"coarse_labels"``.

    Returns:
        ``(images, labels)``: uint8 ``[N, 3, 32, 32]`` (channels first) and int64 ``[N]``.

    Raises:
        DataFileError: naming ``path``: empty, a truncated or corrupt pickle, wrong keys.
    """
    with reading(path, "a CIFAR batch (pickle)"):
        return parse_cifar_batch(read_file_bytes(path, "CIFAR batch"), label_key)
