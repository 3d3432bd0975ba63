"""One error type for bad data files, and the helpers every parser reads files through.

A truncated, empty or garbled file must never surface as a bare ``EOFError``,
``struct.error`` or ``IndexError`` from deep inside a decoder: each ``read_*`` parser
reads its file inside :func:`reading`, which turns whatever the decoding raises into a
:class:`DataFileError` (a ``ValueError``) naming the file and what is wrong with it.
Errors that already name the file and say what to do pass through unchanged: the file
is missing or unreadable (``FileNotFoundError``, ``PermissionError``, ...) or an
optional package is not installed (``ImportError``).

Bytes-level decoders (``parse_*``) raise ``DataFileError(problem)`` without a path;
:func:`reading` adds the path of the file being read.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"

# Raised by opening a file: they already name it and say what is wrong; left alone.
PASS_THROUGH: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    ImportError,
    MemoryError,
)


class DataFileError(ValueError):
    """A data file is empty, truncated, corrupt or not in the expected format.

    Args:
        problem: what is wrong, e.g. ``"truncated: expected 7840016 bytes, found 5000"``.
        path: the file; ``None`` from bytes-level decoders (:func:`reading` adds it).

    ``str(error)`` is ``"<path>: <problem>"``.
    """

    def __init__(self, problem: str, path: str | os.PathLike[str] | None = None) -> None:
        self.problem = problem
        self.path = None if path is None else Path(path)
        super().__init__(problem if path is None else f"{path}: {problem}")

    def __reduce__(self) -> tuple[type[DataFileError], tuple[str, Path | None]]:
        return type(self), (self.problem, self.path)  # keeps ``path`` across processes


def describe(error: BaseException) -> str:
    """``"TypeName: first non-empty line of the message"`` (only the type if it has none);
    a generic name gets its module (``wave.Error``, ``struct.error``, ``zlib.error``)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    name = type(error).__qualname__
    if name in ("Error", "error"):
        name = f"{type(error).__module__}.{name}"
    return f"{name}: {lines[0][:200]}" if lines else name


def as_data_file_error(
    error: BaseException, path: str | os.PathLike[str], what: str
) -> BaseException:
    """The error to raise for ``error`` met while reading ``path``.

    A :class:`DataFileError` gets ``path`` if it has none; errors in
    :data:`PASS_THROUGH` are returned unchanged; anything else becomes
    ``DataFileError("<what> (<Type>: <message>)", path)`` (an ``EOFError`` says
    ``"truncated"``).
    """
    if isinstance(error, DataFileError):
        return error if error.path is not None else DataFileError(error.problem, path)
    if isinstance(error, PASS_THROUGH):
        return error
    if isinstance(error, EOFError):
        return DataFileError(f"{what}: truncated, the data ends early ({describe(error)})", path)
    return DataFileError(f"{what} ({describe(error)})", path)


@contextmanager
def reading(path: str | os.PathLike[str], fmt: str) -> Iterator[None]:
    """Run the decoding of ``path`` (a ``fmt`` file, e.g. ``"IDX"``) inside this block:
    any error it raises comes out as a :class:`DataFileError` naming ``path``."""
    try:
        yield
    except Exception as error:
        wrapped = as_data_file_error(error, path, f"cannot be read as {fmt}")
        if wrapped is error:
            raise
        raise wrapped from error


def check_not_empty(path: str | os.PathLike[str], fmt: str) -> None:
    """Refuse a 0-byte ``path`` (for parsers that hand the path to a library)."""
    if os.stat(path).st_size == 0:
        raise DataFileError(f"empty file (0 bytes); expected {fmt} data", path)


def read_file_bytes(
    path: str | os.PathLike[str], fmt: str, *, gzipped: bool | None = False
) -> bytes:
    """All bytes of ``path``, refusing an empty file.

    Args:
        path: the file.
        fmt: the format's name for messages (``"IDX"``, ``"N-MNIST"``...).
        gzipped: ``True``: the file must be gzip data, decompressed here; ``None``:
            decompressed when it starts with the gzip magic bytes or its name ends in
            ``.gz``; ``False``: returned as stored.

    Raises:
        DataFileError: empty file, or gzip data that is truncated or corrupt.
    """
    with open(path, "rb") as fh:
        buf = fh.read()
    if not buf:
        raise DataFileError(f"empty file (0 bytes); expected {fmt} data", path)
    if gzipped is None:
        gzipped = buf[:2] == GZIP_MAGIC or str(path).endswith(".gz")
    if gzipped:
        buf = gunzip(buf, path)
        if not buf:
            raise DataFileError(f"gzip data decompresses to 0 bytes; expected {fmt} data", path)
    return buf


def gunzip(buf: bytes, path: str | os.PathLike[str]) -> bytes:
    """Decompress the gzip bytes ``buf`` of ``path`` with errors that say what is wrong."""
    if buf[:2] != GZIP_MAGIC:
        raise DataFileError(
            f"not gzip data: starts with {buf[:8]!r}, expected the gzip magic {GZIP_MAGIC!r}",
            path,
        )
    try:
        return gzip.decompress(buf)
    except EOFError:
        raise DataFileError(
            f"truncated gzip data: the compressed stream ends early ({len(buf)} bytes; "
            "an interrupted download or copy?)",
            path,
        ) from None
    except (OSError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise DataFileError(f"corrupt gzip data ({describe(error)})", path) from None


def require_at_least(actual: int, expected: int, what: str) -> None:
    """Raise ``DataFileError("truncated: <what> needs N bytes, found M")`` when
    ``actual < expected`` bytes."""
    if actual < expected:
        raise DataFileError(f"truncated: {what} needs {expected} bytes, found {actual}")


def require_size(actual: int, expected: int, what: str) -> None:
    """Like :func:`require_at_least`, and refuse trailing bytes beyond ``expected`` too."""
    require_at_least(actual, expected, what)
    if actual > expected:
        raise DataFileError(
            f"{actual - expected} unexpected trailing bytes: {what} needs {expected} bytes, "
            f"found {actual}"
        )
