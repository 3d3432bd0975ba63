from pathlib import Path

import numpy as np
import pytest

from spikeforge.data.formats.event_npz import read_event_npz


def test_npz_and_npy(tmp_path: Path) -> None:
    t, x, y, p = np.array([1, 5]), np.array([3, 127]), np.array([0, 9]), np.array([1, 0])
    np.savez(tmp_path / "a.npz", t=t, x=x, y=y, p=p)
    assert read_event_npz(tmp_path / "a.npz").tolist() == [(3, 0, 1, 1), (127, 9, 0, 5)]
    arr = np.zeros(2, dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "?")])
    arr["t"], arr["x"], arr["y"], arr["p"] = t, x, y, p
    np.save(tmp_path / "b.npy", arr)
    assert read_event_npz(tmp_path / "b.npy").tolist() == [(3, 0, 1, 1), (127, 9, 0, 5)]


def test_missing_fields(tmp_path: Path) -> None:
    np.savez(tmp_path / "c.npz", t=np.zeros(2), x=np.zeros(2))
    with pytest.raises(ValueError, match=r"lacks arrays \['y', 'p'\]"):
        read_event_npz(tmp_path / "c.npz")
    np.save(tmp_path / "d.npy", np.zeros(3))
    with pytest.raises(ValueError, match="lacks fields"):
        read_event_npz(tmp_path / "d.npy")
