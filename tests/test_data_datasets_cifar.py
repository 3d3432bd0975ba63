import pickle
from pathlib import Path

import numpy as np
import pytest

from spikeforge.data import DatasetNotFoundError, load_dataset, make_loader
from spikeforge.data.datasets.cifar import CIFAR10_CLASSES
from spikeforge.data.errors import DataFileError
from spikeforge.data.paths import find_shared_data

SHARED = find_shared_data()


@pytest.fixture(scope="module")
def shared() -> Path:
    if SHARED is None:
        pytest.skip("shared data folder (shared/data above the repo) not found")
    return SHARED


def test_cifar10_small(shared: Path) -> None:
    pytest.importorskip("PIL", reason="Pillow (test extra) decodes the CIFAR-10 JPEGs")
    train, test = load_dataset("cifar10-small", "train"), load_dataset("cifar10-small", "test")
    assert (len(train), len(test)) == (10000, 10000)
    x, y = test[3000]  # a few decodes only: decoding all 20k JPEGs is too slow here
    assert x.shape == (3, 32, 32) and x.min() >= 0.0 and x.max() <= 1.0
    assert test.classes[y] == "cat" and y == 3
    xb, yb = next(iter(make_loader(train, batch_size=4, shuffle=True, seed=0)))
    assert xb.shape == (4, 3, 32, 32) and yb.shape == (4,)


def write_batch(path: Path, labels: list[int], key: bytes) -> None:
    data = np.random.default_rng(len(labels)).integers(0, 256, (len(labels), 3072), np.uint8)
    path.write_bytes(pickle.dumps({b"data": data, key: labels}, protocol=2))


def test_cifar10_and_cifar100_from_pickles(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py/data_batch_1"):
        load_dataset("cifar10", "train", data_dir=str(tmp_path))
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        write_batch(folder / f"data_batch_{i}", [i, i + 1], b"labels")
    write_batch(folder / "test_batch", [9], b"labels")
    train = load_dataset("cifar10", "train", data_dir=str(tmp_path))
    assert len(train) == 10 and train.labels.tolist()[:4] == [1, 2, 2, 3]
    assert train[0][0].shape == (3, 32, 32)
    assert load_dataset("cifar10", "test", data_dir=str(tmp_path))[0][1] == 9

    c100 = tmp_path / "cifar-100-python"
    c100.mkdir()
    data = np.zeros((2, 3072), np.uint8)
    batch = {b"data": data, b"fine_labels": [57, 3], b"coarse_labels": [4, 19]}
    (c100 / "test").write_bytes(pickle.dumps(batch, protocol=2))
    fine = load_dataset("cifar100", "test", data_dir=str(tmp_path))
    coarse = load_dataset("cifar100", "test", data_dir=str(tmp_path), labels="coarse")
    assert fine.labels.tolist() == [57, 3] and len(fine.classes) == 100
    assert coarse.labels.tolist() == [4, 19] and len(coarse.classes) == 20


def test_cifar10_small_truncated_jpeg_is_named_at_first_read(tmp_path: Path) -> None:
    image_mod = pytest.importorskip("PIL.Image", reason="Pillow decodes the JPEGs")
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    for name in CIFAR10_CLASSES:
        folder = tmp_path / "cifar10_jpg" / "test" / name
        folder.mkdir(parents=True)
        image_mod.fromarray(pixels).save(folder / "0000.jpg")
    bad = tmp_path / "cifar10_jpg/test/cat/0000.jpg"
    bad.write_bytes(bad.read_bytes()[:300])
    ds = load_dataset("cifar10-small", "test", data_dir=str(tmp_path))  # lazy: opens fine
    assert ds[0][0].shape == (3, 32, 32)
    with pytest.raises(DataFileError, match=r"cat/0000\.jpg: cannot be read as an image") as info:
        ds[CIFAR10_CLASSES.index("cat")]  # the first read, not the end of an epoch
    assert info.value.path == bad
