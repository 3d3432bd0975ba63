from pathlib import Path

import numpy as np
import pytest

from spikeforge.data import DatasetNotFoundError, load_dataset
from spikeforge.data.datasets.cifar import CIFAR10_CLASSES
from spikeforge.data.datasets.cifar10_dvs import orient_dvs128
from spikeforge.data.events import make_events

HEADER = b"#!AER-DAT2.0\r\n# raw AE data\r\n"


def aedat2(rows: list[tuple[int, int, int, int]]) -> bytes:
    body = np.array([(y << 8 | x << 1 | p, t) for x, y, p, t in rows], dtype=">u4")
    return HEADER + body.tobytes()


def test_orientation() -> None:
    out = orient_dvs128(make_events([0, 127], [10, 0], [1, 0], [5, 6]))
    assert out.tolist() == [(117, 127, 0, 5), (127, 0, 1, 6)]


def test_split_and_formats(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="cifar10_dvs/airplane"):
        load_dataset("cifar10-dvs", data_dir=str(tmp_path))
    rows = [(i % 128, (5 * i) % 128, i % 2, 10 * i) for i in range(40)]
    for name in CIFAR10_CLASSES:
        folder = tmp_path / "cifar10_dvs" / name
        folder.mkdir(parents=True)
        for n in range(10):
            (folder / f"cifar10_{name}_{n}.aedat").write_bytes(aedat2(rows))
    t = np.arange(7) * 100
    np.savez(tmp_path / "cifar10_dvs/cat/cifar10_cat_10.npz", t=t, x=t % 128, y=t % 50, p=t % 2)
    train = load_dataset("cifar10-dvs", "train", data_dir=str(tmp_path), frames=4)
    test = load_dataset("cifar10-dvs", "test", data_dir=str(tmp_path), frames=4, downsample=2)
    cat = CIFAR10_CLASSES.index("cat")
    assert np.bincount(train.labels).tolist() == [9, 9, 9, 10, 9, 9, 9, 9, 9, 9]
    assert np.bincount(test.labels).tolist() == [1] * 10
    assert train.files[0].name == "cifar10_airplane_0.aedat"
    x, _ = train[0]
    assert x.shape == (4, 2, 128, 128) and x.sum() == 40
    cat_test = test[cat][0]
    assert test.files[cat].suffix == ".npz" and cat_test.shape == (4, 2, 64, 64)
    assert cat_test.sum() == 7
