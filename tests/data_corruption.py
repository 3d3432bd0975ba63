"""Bad-file helpers for the data tests: build a small valid file in each format (with the
builders of the formats' own test modules), then damage it: empty it, truncate it or
garble it. ``FORMATS`` maps a format name to a :class:`Format` (how to build a valid
file, how to read one, and where cutting it leaves a file its reader must refuse)."""

from __future__ import annotations

import gzip
import struct
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spikeforge.data.events import make_events


def empty(path: Path) -> Path:
    """Make ``path`` a 0-byte file."""
    path.write_bytes(b"")
    return path


def truncate(path: Path, keep: int | float) -> Path:
    """Cut ``path`` short: keep ``keep`` bytes (negative: drop that many from the end;
    a float: that fraction of the file)."""
    data = path.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep
    path.write_bytes(data[:n])
    return path


def garble(path: Path, start: int = 0, length: int = 16, seed: int = 0) -> Path:
    """Overwrite ``length`` bytes from ``start`` (negative: from the end) with noise."""
    data = bytearray(path.read_bytes())
    start = start % len(data)
    noise = np.random.default_rng(seed).integers(0, 256, length, dtype=np.uint8).tobytes()
    data[start : start + length] = noise[: len(data) - start]
    path.write_bytes(bytes(data))
    return path


@dataclass(frozen=True)
class Format:
    """One file format: ``build(folder) -> a valid file``, ``read(path)`` its parser, the
    ``cuts`` (keep-byte counts as for :func:`truncate`) that leave an invalid file, and
    the garbling ``(start, length)`` that makes the file invalid."""

    build: Callable[[Path], Path]
    read: Callable[[Path], Any]
    cuts: tuple[int | float, ...] = (21, -3)
    garbles: tuple[tuple[int, int], ...] = ((0, 16),)
    needs: str | None = None  # optional module the format needs


def _events(n: int = 12) -> np.ndarray:
    k = np.arange(n)
    return make_events(k % 34, (3 * k) % 34, k % 2, 100 * k)


def _idx(folder: Path, gz: bool) -> Path:
    from test_data_datasets_mnist import write_idx

    path = folder / "t10k-images-idx3-ubyte.gz"
    write_idx(path, np.random.default_rng(0).integers(0, 256, (4, 28, 28)), 2051)
    if gz:
        return path
    raw = path.with_suffix("")
    raw.write_bytes(gzip.decompress(path.read_bytes()))
    return raw


def _mnist_csv(folder: Path) -> Path:
    rows = np.random.default_rng(0).integers(0, 256, (3, 785))
    path = folder / "mnist_5k.csv.gz"
    path.write_bytes(gzip.compress("\n".join(",".join(map(str, r)) for r in rows).encode()))
    return path


def _nmnist(folder: Path) -> Path:
    from test_data_formats_nmnist_bin import encode

    path = folder / "60001.bs2"
    path.write_bytes(encode(_events()))
    return path


def _aedat2(folder: Path) -> Path:
    from test_data_formats_aedat2 import write

    path = folder / "cifar10_cat_0.aedat"
    write(path, [(1, 2, 1, 5), (3, 4, 0, 9), (5, 6, 1, 12)])
    return path


def _aedat3(folder: Path) -> Path:
    from test_data_formats_aedat3 import write

    path = folder / "user01_fluorescent.aedat"
    write(path)
    return path


def _aedat4(folder: Path) -> Path:
    from test_data_formats_aedat4 import some_events, write_aedat4

    path = folder / "rec.aedat4"
    write_aedat4(path, [some_events(5, 1_000), some_events(4, 2_000)], 0)
    return path


def _cifar(folder: Path) -> Path:
    from test_data_formats_cifar_pickle import write_batch

    path = folder / "data_batch_1"
    write_batch(path, 3, {"labels": [1, 2, 3]})
    return path


def _npz(folder: Path) -> Path:
    t = np.arange(6) * 10
    path = folder / "cifar10_cat_1.npz"
    np.savez(path, t=t, x=t % 128, y=t % 50, p=t % 2)
    return path


def _npy(folder: Path) -> Path:
    arr = np.zeros(6, dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "?")])
    arr["t"] = np.arange(6)
    path = folder / "cifar10_cat_2.npy"
    np.save(path, arr)
    return path


def _dat(folder: Path) -> Path:
    body = b"".join(struct.pack("<II", 10 * i, i | (2 * i) << 14 | (i % 2) << 28) for i in range(5))
    path = folder / "obj_004396_td.dat"
    path.write_bytes(b"% Version 2\n% Height 240\n% Width 304\n" + bytes([0, 8]) + body)
    return path


def _shd(folder: Path) -> Path:
    from test_data_formats_shd_h5 import write_shd

    path = folder / "shd_test.h5"
    write_shd(path, [[0.001, 0.5], [0.2]], [[0, 699], [5]], [3, 19])
    return path


def _mat(folder: Path) -> Path:
    import scipy.io

    spiketrain = np.zeros((101, 4))
    spiketrain[100] = [0.1, 0.2, 0.3, 0.4]
    spiketrain[5, 1] = 1
    path = folder / "sample.mat"
    scipy.io.savemat(path, {"spiketrain": spiketrain})
    return path


def _wav(folder: Path) -> Path:
    path = folder / "3_theo_12.wav"
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(8000)
        wf.writeframes(np.arange(400, dtype="<i2").tobytes())
    return path


def _image(suffix: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        from PIL import Image

        pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        path = folder / f"0000{suffix}"
        Image.fromarray(pixels).save(path)
        return path

    return build


def _read(module: str, name: str, *args: Any) -> Callable[[Path], Any]:
    def read(path: Path) -> Any:
        import importlib

        return getattr(importlib.import_module(module), name)(path, *args)

    return read


F = "spikeforge.data.formats"
FORMATS: dict[str, Format] = {
    "idx-gz": Format(lambda d: _idx(d, gz=True), _read(f"{F}.idx", "read_idx", 2051)),
    "idx-raw": Format(lambda d: _idx(d, gz=False), _read(f"{F}.idx", "read_idx", 2051)),
    "mnist-csv": Format(_mnist_csv, _read(f"{F}.mnist_csv", "read_mnist_csv")),
    # no header: garbled events still parse (out-of-sensor values fail at frame building)
    "nmnist-bin": Format(_nmnist, _read(f"{F}.nmnist_bin", "read_nmnist_bin"), garbles=()),
    "aedat2": Format(_aedat2, _read(f"{F}.aedat2", "read_aedat2")),
    "aedat3": Format(_aedat3, _read(f"{F}.aedat3", "read_aedat3"), garbles=((0, 16), (63, 8))),
    "aedat4": Format(_aedat4, _read(f"{F}.aedat4", "read_aedat4"), garbles=((0, 16), (18, 8))),
    "cifar-pickle": Format(_cifar, _read(f"{F}.cifar_pickle", "read_cifar_batch")),
    "event-npz": Format(_npz, _read(f"{F}.event_npz", "read_event_npz")),
    "event-npy": Format(_npy, _read(f"{F}.event_npz", "read_event_npz")),
    "prophesee-dat": Format(
        _dat, _read(f"{F}.prophesee_dat", "read_prophesee_dat"), garbles=((0, 16), (37, 2))
    ),
    "shd-h5": Format(_shd, _read(f"{F}.shd_h5", "read_shd"), needs="h5py"),
    "stmnist-mat": Format(
        _mat,
        _read(f"{F}.stmnist_mat", "read_stmnist_mat"),
        cuts=(21, 0.5, -3),
        garbles=((124, 4),),  # the version and endian marks (bytes 0-115 are free text)
        needs="scipy",
    ),
    "wav": Format(_wav, _read(f"{F}.wav", "read_wav")),
    # a PNG cut inside its closing IEND chunk still holds the whole image: cut earlier
    "png": Format(_image(".png"), _read(f"{F}.image_folder", "read_image"), (21, 0.5), (), "PIL"),
    "jpeg": Format(
        _image(".jpg"), _read(f"{F}.image_folder", "read_image"), (21, 0.5, -3), (), "PIL"
    ),
}
