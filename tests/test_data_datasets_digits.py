import numpy as np
import pytest

from spikeforge.data import load_dataset

pytest.importorskip("sklearn", reason="scikit-learn (data extra) ships the digits")


def test_split_sizes_range_and_stratification() -> None:
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert (len(train), len(test)) == (1437, 360)
    x, y = train[0]
    assert x.shape == (1, 8, 8) and x.min() >= 0.0 and x.max() <= 1.0 and 0 <= y <= 9
    counts = np.bincount(test.labels, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37
    # fixed seed: same split every time
    assert np.array_equal(load_dataset("digits", "test").labels, test.labels)
    assert not train.temporal
