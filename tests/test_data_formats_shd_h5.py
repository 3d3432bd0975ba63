from pathlib import Path

import numpy as np
import pytest

from spikeforge.data.errors import DataFileError
from spikeforge.data.formats.shd_h5 import read_shd

h5py = pytest.importorskip("h5py", reason="h5py (optional) reads SHD files")


def write_shd(
    path: Path, times: list[list[float]], units: list[list[int]], labels: list[int]
) -> None:
    """A file in the SHD layout: vlen spikes/times (s), spikes/units, labels."""
    with h5py.File(path, "w") as fh:
        spikes = fh.create_group("spikes")
        t = spikes.create_dataset("times", (len(times),), dtype=h5py.vlen_dtype(np.float32))
        u = spikes.create_dataset("units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (ti, ui) in enumerate(zip(times, units, strict=True)):
            t[i] = np.asarray(ti, dtype=np.float32)
            u[i] = np.asarray(ui, dtype=np.uint16)
        fh.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
        fh.create_group("extra").create_dataset("speaker", data=np.zeros(len(labels), np.uint16))


def test_round_trip(tmp_path: Path) -> None:
    write_shd(tmp_path / "shd_test.h5", [[0.001, 0.5], [0.2], []], [[0, 699], [5], []], [3, 19, 0])
    times, units, labels = read_shd(tmp_path / "shd_test.h5")
    assert labels.tolist() == [3, 19, 0]
    assert [u.tolist() for u in units] == [[0, 699], [5], []]
    assert np.allclose(times[0], [0.001, 0.5])


def test_missing_dataset(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "bad.h5", "w") as fh:
        fh.create_dataset("labels", data=np.zeros(2))
    with pytest.raises(ValueError, match="spikes/times"):
        read_shd(tmp_path / "bad.h5")


def test_bad_contents_are_found_when_the_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "shd_train.h5"
    write_shd(path, [[0.1], [0.2, 0.3]], [[3], [5, 700]], [1, 2])  # channel 700 of 0..699
    with pytest.raises(DataFileError, match=r"shd_train\.h5: sample 1 has channel ids 5\.\.700"):
        read_shd(path)
    write_shd(path, [[0.1], [float("nan")]], [[3], [5]], [1, 2])
    with pytest.raises(DataFileError, match=r"shd_train\.h5: sample 1 has spike times"):
        read_shd(path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataFileError, match=r"shd_train\.h5: cannot be read as SHD HDF5"):
        read_shd(path)
