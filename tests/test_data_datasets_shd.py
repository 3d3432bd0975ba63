from pathlib import Path

import numpy as np
import pytest

from spikeforge.data import DatasetNotFoundError, load_dataset, make_loader
from spikeforge.data.datasets.shd import bin_spikes

h5py = pytest.importorskip("h5py", reason="h5py (optional) reads SHD files")


def write_shd(
    path: Path, times: list[list[float]], units: list[list[int]], labels: list[int]
) -> None:
    with h5py.File(path, "w") as fh:
        t = fh.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.float32))
        u = fh.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (ti, ui) in enumerate(zip(times, units, strict=True)):
            t[i], u[i] = np.asarray(ti, np.float32), np.asarray(ui, np.uint16)
        fh.create_dataset("labels", data=np.asarray(labels, np.uint16))


def test_bin_spikes() -> None:
    counts = bin_spikes(np.array([0.0, 0.0095, 0.011, 2.0]), np.array([0, 0, 699, 5]), 10, 10.0)
    assert counts.shape == (10, 700) and counts.sum() == 3  # the 2 s spike is past 100 ms
    assert counts[0, 0] == 2 and counts[1, 699] == 1
    pooled = bin_spikes(np.array([0.0, 0.0]), np.array([0, 699]), 1, 10.0, channel_pool=7)
    assert pooled.shape == (1, 100) and pooled[0, 0] == 1 and pooled[0, 99] == 1
    with pytest.raises(ValueError, match="channel ids"):
        bin_spikes(np.array([0.0]), np.array([700]), 1, 1.0)


def test_shd_dataset(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="shd/shd_train.h5"):
        load_dataset("shd", "train", data_dir=str(tmp_path))
    (tmp_path / "shd").mkdir()
    write_shd(tmp_path / "shd/shd_train.h5", [[0.1, 0.2, 0.95], [0.5]], [[1, 2, 3], [4]], [7, 19])
    ds = load_dataset("shd", "train", data_dir=str(tmp_path), steps=50, bin_ms=10.0)
    assert len(ds) == 2 and ds.temporal and ds.classes[19] == "de-9"
    x, y = ds[0]
    assert x.shape == (50, 700) and x.sum() == 2 and y == 7  # 0.95 s is past 500 ms
    xb, yb = next(iter(make_loader(ds, batch_size=2)))
    assert xb.shape == (50, 2, 700) and yb.tolist() == [7, 19]
