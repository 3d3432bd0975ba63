from pathlib import Path

import numpy as np
import pytest

from spikeforge.data import DatasetNotFoundError, load_dataset, make_loader
from spikeforge.data.datasets.nmnist import read_id_label_file
from spikeforge.data.errors import DataFileError
from spikeforge.data.formats.nmnist_bin import read_nmnist_bin
from spikeforge.data.paths import find_shared_data

SHARED = find_shared_data()


@pytest.fixture(scope="module")
def shared() -> Path:
    if SHARED is None:
        pytest.skip("shared data folder (shared/data above the repo) not found")
    return SHARED


@pytest.mark.parametrize("mode", ["count", "duration"])
def test_nmnist_small_frames(shared: Path, mode: str) -> None:
    ds = load_dataset("nmnist-small", "test", frames=6, mode=mode)
    assert len(ds) == 100 and ds.temporal and ds.labels[:2].tolist() == [7, 2]
    x, y = ds[0]
    n_events = read_nmnist_bin(shared / "nmnist_small/60001.bs2").shape[0]
    assert x.shape == (6, 2, 34, 34) and x.sum() == n_events and y == 7
    xb, yb = next(iter(make_loader(ds, batch_size=4)))
    assert xb.shape == (6, 4, 2, 34, 34) and yb.tolist() == ds.labels[:4].tolist()


def test_nmnist_small_train_and_window(shared: Path) -> None:
    ds = load_dataset("nmnist-small", "train", frames=30, mode="window", window_ms=5.0)
    assert len(ds) == 1000 and np.bincount(ds.labels).min() > 50
    assert ds[0][0].shape == (30, 2, 34, 34)
    with pytest.raises(ValueError, match="window_ms"):
        load_dataset("nmnist-small", "train", mode="window")


def test_id_label_file(tmp_path: Path) -> None:
    (tmp_path / "l.txt").write_text("#sample #class\n1\t5\n\n2 0\n")
    assert read_id_label_file(tmp_path / "l.txt") == [(1, 5), (2, 0)]
    (tmp_path / "bad.txt").write_text("1 2 3\n")
    with pytest.raises(DataFileError, match="bad.txt: line 1: expected"):
        read_id_label_file(tmp_path / "bad.txt")
    (tmp_path / "garbled.txt").write_text("1 5\n2 x\n")
    with pytest.raises(DataFileError, match="garbled.txt: line 2: expected"):
        read_id_label_file(tmp_path / "garbled.txt")


def test_full_nmnist(tmp_path: Path, shared: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="nmnist/Train/0"):
        load_dataset("nmnist", "train", data_dir=str(tmp_path))
    sample = (shared / "event_format_samples/sample_nmnist.bin").read_bytes()
    for digit in range(10):
        folder = tmp_path / "nmnist" / "Test" / str(digit)
        folder.mkdir(parents=True)
        if digit in (3, 8):
            (folder / "00001.bin").write_bytes(sample)
    ds = load_dataset("nmnist", "test", data_dir=str(tmp_path), frames=4)
    assert len(ds) == 2 and ds.labels.tolist() == [3, 8]
    assert ds[1][0].sum() == 4325


def _bs2(events: list[tuple[int, int, int, int]]) -> bytes:
    """(x, y, p, t) -> N-MNIST 5-byte events."""
    return b"".join(
        bytes([x, y, p << 7 | t >> 16, (t >> 8) & 0xFF, t & 0xFF]) for x, y, p, t in events
    )


def test_empty_or_bad_recording_is_named_at_first_read(tmp_path: Path) -> None:
    folder = tmp_path / "nmnist_small"
    folder.mkdir()
    (folder / "train1K.txt").write_text("1 5\n2 3\n3 0\n")
    (folder / "1.bs2").write_bytes(_bs2([(1, 2, 0, 10), (3, 4, 1, 20)]))
    (folder / "2.bs2").write_bytes(b"")  # once trained as a blank sample
    (folder / "3.bs2").write_bytes(_bs2([(200, 3, 0, 9)]))  # x outside the 34x34 sensor
    ds = load_dataset("nmnist-small", "train", data_dir=str(tmp_path), frames=2)
    assert ds[0][0].sum() == 2
    with pytest.raises(DataFileError, match=r"2\.bs2: empty file \(0 bytes\)") as info:
        ds[1]
    assert info.value.path == folder / "2.bs2"
    with pytest.raises(DataFileError, match=r"3\.bs2: sample 2 cannot be decoded \(ValueError"):
        ds[2]
    with pytest.raises(DataFileError, match=r"2\.bs2: empty file"):
        next(iter(make_loader(ds, batch_size=3)))  # through a loader: the same error
