from pathlib import Path

import numpy as np
import pytest

from spikeforge.data.formats.stmnist_mat import read_stmnist_mat, spiketrain_to_events
from spikeforge.data.paths import find_shared_data

SHARED = find_shared_data()


@pytest.fixture(scope="module")
def shared() -> Path:
    if SHARED is None:
        pytest.skip("shared data folder (shared/data above the repo) not found")
    return SHARED


def test_real_sample(shared: Path) -> None:
    sio = pytest.importorskip("scipy.io")
    path = shared / "event_format_samples/sample_stmnist.mat"
    spiketrain = sio.loadmat(path)["spiketrain"]
    assert spiketrain.shape == (101, 2346)
    events = read_stmnist_mat(path)
    assert events.shape[0] == np.count_nonzero(spiketrain[:100])
    assert events["x"].max() < 10 and events["y"].max() < 10
    assert np.all(np.diff(events["t"]) >= 0)
    assert set(np.unique(events["p"]).tolist()) == {0, 1}
    assert events["p"].sum() == np.count_nonzero(spiketrain[:100] > 0)


def test_synthetic() -> None:
    st = np.zeros((101, 3))
    st[100] = [0.5, 0.25, 1.0]  # seconds
    st[23, 0], st[7, 1], st[99, 2] = 1, -1, 1
    events = spiketrain_to_events(st)
    assert events.tolist() == [(3, 2, 1, 500_000), (7, 0, 0, 250_000), (9, 9, 1, 1_000_000)]
    with pytest.raises(ValueError, match=r"\[101, N\]"):
        spiketrain_to_events(np.zeros((100, 3)))
