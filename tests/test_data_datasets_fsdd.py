from pathlib import Path

import numpy as np
import pytest

from spikeforge.data import load_dataset, make_loader
from spikeforge.data.datasets.fsdd import fsdd_split, parse_fsdd_name
from spikeforge.data.paths import find_shared_data

SHARED = find_shared_data()


@pytest.fixture(scope="module")
def shared() -> Path:
    if SHARED is None:
        pytest.skip("shared data folder (shared/data above the repo) not found")
    return SHARED


def test_name_parsing_and_split() -> None:
    assert parse_fsdd_name("3_yweweler_12.wav") == (3, "yweweler", 12)
    assert [fsdd_split(i) for i in (0, 4, 5, 49)] == ["test", "test", "train", "train"]
    with pytest.raises(ValueError, match="digit"):
        parse_fsdd_name("x.wav")


def test_official_split(shared: Path) -> None:
    train, test = load_dataset("fsdd", "train"), load_dataset("fsdd", "test")
    assert (len(train), len(test)) == (2700, 300)
    assert np.bincount(test.labels).tolist() == [30] * 10
    assert sorted(set(test.speakers)) == [
        "george", "jackson", "lucas", "nicolas", "theo", "yweweler",
    ]  # fmt: skip
    assert not {p.name for p in train.files} & {p.name for p in test.files}


def test_spike_samples(shared: Path) -> None:
    ds = load_dataset("fsdd", "test", n_bands=32, hop_ms=10.0, duration_s=1.0)
    x, y = ds[0]
    assert x.shape == (100, 64) and set(np.unique(x.numpy()).tolist()) <= {0.0, 1.0}
    assert 0 < x.mean() < 0.5 and y == ds.labels[0]
    xb, _ = next(iter(make_loader(ds, batch_size=3)))
    assert xb.shape == (100, 3, 64)
    level = load_dataset("fsdd", "test", encoding="threshold", n_bands=40, duration_s=0.5)
    assert level[0][0].shape == (50, 40)
    with pytest.raises(ValueError, match="encoding"):
        load_dataset("fsdd", "test", encoding="rate")
