"""IDX files (MNIST, Fashion-MNIST), gzip-compressed or raw.

Layout: big-endian magic ``0x0000 TT DD`` (``TT`` = element type, ``DD`` = number of
dims), then ``DD`` big-endian uint32 sizes, then the data, big-endian, row-major.
Images are ``0x00000803`` (2051, uint8 ``[N, 28, 28]``), labels ``0x00000801`` (2049).
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import DataFileError, read_file_bytes, reading, require_at_least, require_size

_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def parse_idx(buf: bytes, expected_magic: int | None = None) -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file into an array of its shape.

    Raises:
        DataFileError: bad header magic, a header or payload cut short, or trailing bytes.
    """
    require_at_least(len(buf), 4, "the IDX magic number")
    magic = int.from_bytes(buf[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise DataFileError(
            f"bad header magic: IDX magic number is {magic}, expected {expected_magic}"
        )
    zero, type_code, ndim = buf[0] << 8 | buf[1], buf[2], buf[3]
    if zero != 0 or type_code not in _TYPES:
        raise DataFileError(f"not an IDX file: bad header magic {magic:#010x}")
    header = 4 + 4 * ndim
    require_at_least(len(buf), header, f"an IDX header with {ndim} dimensions")
    shape = tuple(int.from_bytes(buf[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _TYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    require_size(len(buf) - header, expected, f"the IDX payload of shape {shape}")
    data = np.frombuffer(buf, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike[str], expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (gzip-compressed when it starts with the gzip magic bytes or its
    name ends in ``.gz``, raw otherwise).

    Args:
        path: file path.
        expected_magic: 2051 for images, 2049 for labels; ``None`` skips the check.

    Returns:
        The array, e.g. uint8 ``[10000, 28, 28]`` or ``[10000]``.

    Raises:
        DataFileError: naming ``path``: empty, not gzip data, truncated, bad header magic...
    """
    with reading(path, "IDX"):
        return parse_idx(read_file_bytes(path, "IDX", gzipped=None), expected_magic)
