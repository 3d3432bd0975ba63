"""Fetch the full-size datasets' official files into a data folder (never run by tests
against the network: they use ``file://`` URLs).

Each file is streamed to a temporary file next to its destination, checked against its
published MD5, then renamed into place — an interrupted or corrupt download never
leaves a file that looks complete. Files already present with the right checksum are
skipped, so the command can be re-run after an interruption.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: where it comes from, where it goes, its MD5."""

    url: str
    path: str  # relative to the data folder
    md5: str
    extract: bool = False  # a .tar.gz unpacked next to itself (where the loader looks)


_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_CIFAR = "https://www.cs.toronto.edu/~kriz/"

# Official files and checksums as published by each dataset's authors.
SOURCES: dict[str, tuple[RemoteFile, ...]] = {
    "mnist": (
        RemoteFile(_MNIST + "train-images-idx3-ubyte.gz", "mnist/train-images-idx3-ubyte.gz",
                   "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        RemoteFile(_MNIST + "train-labels-idx1-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz",
                   "d53e105ee54ea40749a09fcbcd1e9432"),
        RemoteFile(_MNIST + "t10k-images-idx3-ubyte.gz", "mnist/t10k-images-idx3-ubyte.gz",
                   "9fb629c4189551a2d022fa330f9573f3"),
        RemoteFile(_MNIST + "t10k-labels-idx1-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz",
                   "ec29112dd5afa0611ce80d1b7f02629c"),
    ),
    "fashion-mnist": (
        RemoteFile(_FASHION + "train-images-idx3-ubyte.gz",
                   "fashion_mnist/train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        RemoteFile(_FASHION + "train-labels-idx1-ubyte.gz",
                   "fashion_mnist/train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        RemoteFile(_FASHION + "t10k-images-idx3-ubyte.gz",
                   "fashion_mnist/t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        RemoteFile(_FASHION + "t10k-labels-idx1-ubyte.gz",
                   "fashion_mnist/t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ),
    "cifar10": (
        RemoteFile(_CIFAR + "cifar-10-python.tar.gz", "cifar10/cifar-10-python.tar.gz",
                   "c58f30108f718f92721af3b95e74349a", extract=True),
    ),
    "cifar100": (
        RemoteFile(_CIFAR + "cifar-100-python.tar.gz", "cifar100/cifar-100-python.tar.gz",
                   "eb9058c3a382ffc7106e4002c42a8d85", extract=True),
    ),
}  # fmt: skip


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fetch(remote: RemoteFile, data_dir: str | os.PathLike[str], timeout: float = 60.0) -> Path:
    """Download ``remote`` into ``data_dir`` (atomically, MD5-checked); returns its path."""
    target = Path(data_dir) / remote.path
    if target.is_file() and md5sum(target) == remote.md5 and not remote.extract:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(remote.url, timeout=timeout) as src:
            while block := src.read(1 << 20):
                out.write(block)
        got = md5sum(Path(tmp))
        if got != remote.md5:
            raise OSError(
                f"{remote.url} downloaded with MD5 {got}, expected {remote.md5}; "
                "the file was discarded — retry, or place the official file at "
                f"{target} yourself"
            )
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    if remote.extract:
        with tarfile.open(target) as archive:
            # filter="data" refuses absolute paths, links out of the folder and devices.
            archive.extractall(target.parent, filter="data")
    return target


def download(name: str, data_dir: str | os.PathLike[str]) -> list[Path]:
    """Fetch every file of dataset ``name`` (see :data:`SOURCES`) into ``data_dir``."""
    if name not in SOURCES:
        raise ValueError(f"no download source for {name!r}; available: {', '.join(SOURCES)}")
    return [fetch(remote, data_dir) for remote in SOURCES[name]]
