from pathlib import Path

import numpy as np
import pytest

from spikeforge.data.errors import DataFileError
from spikeforge.data.events import make_events
from spikeforge.data.formats.idx import read_idx
from spikeforge.data.formats.nmnist_bin import parse_nmnist_bin, read_nmnist_bin
from spikeforge.data.paths import find_shared_data

SHARED = find_shared_data()


@pytest.fixture(scope="module")
def shared() -> Path:
    if SHARED is None:
        pytest.skip("shared data folder (shared/data above the repo) not found")
    return SHARED


def check_recording(path: Path) -> np.ndarray:
    events = read_nmnist_bin(path)
    assert events.shape[0] == path.stat().st_size // 5
    assert events["x"].max() <= 33 and events["y"].max() <= 33
    assert np.all(np.diff(events["t"]) >= 0)
    assert set(np.unique(events["p"]).tolist()) <= {0, 1}
    return events


def test_sample_bin(shared: Path) -> None:
    events = check_recording(shared / "event_format_samples/sample_nmnist.bin")
    assert events.shape[0] == 4325
    assert events["t"].max() < 400_000  # about 300 ms of saccades, in µs


def test_subset_files(shared: Path) -> None:
    files = sorted((shared / "nmnist_small").glob("*.bs2"))
    assert len(files) == 1100
    for path in files[::25]:  # a spread-out subset keeps the test fast
        events = check_recording(path)
        assert 1000 <= events.shape[0] <= 8000
        assert events["t"].max() <= 336_000


def test_label_files_match_mnist(shared: Path) -> None:
    def pairs(name: str) -> np.ndarray:
        return np.loadtxt(shared / "nmnist_small" / name, dtype=np.int64, comments="#")

    train, test = pairs("train1K.txt"), pairs("test100.txt")
    assert train.shape == (1000, 2) and test.shape == (100, 2)
    train_labels = read_idx(shared / "mnist/train-labels-idx1-ubyte.gz")
    test_labels = read_idx(shared / "mnist/t10k-labels-idx1-ubyte.gz")
    assert np.array_equal(train_labels[train[:, 0] - 1], train[:, 1])
    assert np.array_equal(test_labels[test[:, 0] - 60001], test[:, 1])
    for sample_id in (*train[:3, 0], *test[:3, 0]):
        assert (shared / "nmnist_small" / f"{sample_id}.bs2").exists()


def encode(events: np.ndarray) -> bytes:
    out = np.zeros((events.shape[0], 5), dtype=np.uint8)
    out[:, 0], out[:, 1] = events["x"], events["y"]
    t = events["t"].astype(np.int64)
    out[:, 2] = (events["p"].astype(np.int64) << 7) | (t >> 16)
    out[:, 3], out[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    return out.tobytes()


def test_round_trip_extremes() -> None:
    events = make_events([0, 33, 255], [33, 0, 7], [1, 0, 1], [0, 70_000, (1 << 23) - 1])
    assert np.array_equal(parse_nmnist_bin(encode(events)), events)
    with pytest.raises(ValueError, match="multiple of 5"):
        parse_nmnist_bin(b"\x00" * 7)


def test_empty_or_truncated_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "60001.bs2"
    path.write_bytes(b"")  # a 0-byte recording has no events at all: refused
    with pytest.raises(DataFileError, match=r"60001\.bs2: empty file \(0 bytes\)") as info:
        read_nmnist_bin(path)
    assert info.value.path == path
    assert parse_nmnist_bin(b"").shape == (0,)  # bytes level: zero events, no file involved
    path.write_bytes(encode(make_events([1, 2], [3, 4], [0, 1], [5, 6]))[:-2])
    with pytest.raises(DataFileError, match=r"60001\.bs2: truncated: .* got 8 bytes"):
        read_nmnist_bin(path)
