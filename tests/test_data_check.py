import gzip
from pathlib import Path

import pytest

from spikeforge.data.check import check_dataset
from spikeforge.data.paths import DatasetNotFoundError


def write_nmnist_small(root: Path, empty: str | None = None) -> Path:
    """A 3-train / 2-test ``nmnist-small`` tree; ``empty``: that sample id's file is 0 bytes."""
    folder = root / "nmnist_small"
    folder.mkdir()
    (folder / "train1K.txt").write_text("1 5\n2 3\n3 0\n")
    (folder / "test100.txt").write_text("60001 7\n60002 2\n")
    event = bytes([1, 2, 0, 0, 10])  # x 1, y 2, OFF, t 10 µs
    for sample_id in (1, 2, 3, 60001, 60002):
        (folder / f"{sample_id}.bs2").write_bytes(event * 3)
    if empty is not None:
        (folder / f"{empty}.bs2").write_bytes(b"")
    return folder


def test_all_samples_ok(tmp_path: Path) -> None:
    write_nmnist_small(tmp_path)
    report = check_dataset("nmnist-small", "all", tmp_path, show_progress=False)
    assert report.ok and report.first_error is None
    assert report.lines() == [
        "nmnist-small train: 3 samples ok",
        "nmnist-small test: 2 samples ok",
    ]
    test_only = check_dataset("nmnist-small", "test", tmp_path, show_progress=False)
    assert [s.split for s in test_only.splits] == ["test"] and test_only.ok


def test_first_bad_file_is_named_and_checking_stops(tmp_path: Path) -> None:
    folder = write_nmnist_small(tmp_path, empty="2")
    report = check_dataset("nmnist-small", "all", tmp_path, show_progress=False)
    assert not report.ok and [s.split for s in report.splits] == ["train"]  # test not reached
    bad = report.first_error
    assert bad is not None and bad.index == 1 and bad.ok_samples == 1 and bad.total == 3
    assert bad.file == folder / "2.bs2"
    assert str(folder / "2.bs2") in bad.error and "empty file (0 bytes)" in bad.error
    assert bad.line("nmnist-small").startswith("nmnist-small train: sample 1 of 3 is bad: ")


def test_a_missing_sample_file_is_reported_with_its_name(tmp_path: Path) -> None:
    folder = write_nmnist_small(tmp_path)
    (folder / "60002.bs2").unlink()
    bad = check_dataset("nmnist-small", "test", tmp_path, show_progress=False).first_error
    assert bad is not None and bad.index == 1 and bad.file == folder / "60002.bs2"


def test_a_bad_file_found_when_opening(tmp_path: Path) -> None:
    folder = tmp_path / "fashion_mnist"
    folder.mkdir()
    header = (2049).to_bytes(4, "big") + (3).to_bytes(4, "big")
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(header + bytes(3))[:-9])
    images = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (3, 28, 28))
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(images + bytes(3 * 784)))
    report = check_dataset("fashion-mnist", "test", tmp_path, show_progress=False)
    bad = report.first_error
    assert bad is not None and bad.index is None and bad.total == 0
    assert bad.file == folder / "t10k-labels-idx1-ubyte.gz"
    assert "cannot open" in bad.line("fashion-mnist") and "truncated gzip data" in bad.error


def test_progress_and_argument_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_nmnist_small(tmp_path)
    check_dataset("nmnist-small", "train", tmp_path)
    assert "check nmnist-small train: 3/3 samples (100%)" in capsys.readouterr().err
    with pytest.raises(ValueError, match="split must be one of"):
        check_dataset("nmnist-small", "validation", tmp_path)
    with pytest.raises(DatasetNotFoundError):  # no files at all: not a "bad file"
        check_dataset("nmnist-small", "train", tmp_path / "nowhere", show_progress=False)


def test_static_dataset() -> None:
    pytest.importorskip("sklearn", reason="scikit-learn ships the digits")
    report = check_dataset("digits", "test", show_progress=False)
    assert report.ok and report.splits[0].total == 360 == report.splits[0].ok_samples
