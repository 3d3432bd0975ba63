import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from spikeforge.data import DatasetNotFoundError, load_dataset, make_loader
from spikeforge.data.errors import DataFileError
from spikeforge.data.paths import ENV_VAR, find_shared_data

SHARED = find_shared_data()


@pytest.fixture(scope="module")
def shared() -> Path:
    if SHARED is None:
        pytest.skip("shared data folder (shared/data above the repo) not found")
    return SHARED


def test_mnist_small(shared: Path) -> None:
    train, test = load_dataset("mnist-small", "train"), load_dataset("mnist-small", "test")
    assert (len(train), len(test)) == (5000, 10000)
    x, y = test[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and y == 7
    assert float(x.max()) == 1.0 and float(x.min()) == 0.0
    xb, yb = next(iter(make_loader(test, batch_size=5)))
    assert xb.shape == (5, 1, 28, 28) and yb.tolist() == [7, 2, 1, 0, 4]


def test_seq_mnist_small(shared: Path) -> None:
    ds = load_dataset("seq-mnist-small", "test")
    assert ds.temporal
    x, y = ds[0]
    assert x.shape == (28, 28) and y == 7
    xb, _ = next(iter(make_loader(ds, batch_size=3)))
    assert xb.shape == (28, 3, 28)  # [T, B, features]
    assert load_dataset("seq-mnist-small", "test", mode="pixels")[0][0].shape == (784, 1)
    with pytest.raises(ValueError, match="mode"):
        load_dataset("seq-mnist-small", "test", mode="cols")


def test_full_mnist_missing_train_images_names_path(
    shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("mnist", "train")
    assert "mnist/train-images-idx3-ubyte.gz" in str(info.value)
    assert str(shared) in str(info.value)
    assert len(load_dataset("mnist", "test")) == 10000  # the test files are present


def write_idx(path: Path, arr: np.ndarray, magic: int) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(gzip.compress(header + arr.astype(np.uint8).tobytes()))


def test_fashion_mnist_from_data_dir(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="fashion_mnist/train-images-idx3-ubyte.gz"):
        load_dataset("fashion-mnist", "train", data_dir=str(tmp_path))
    (tmp_path / "fashion_mnist").mkdir()
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28))
    write_idx(tmp_path / "fashion_mnist/train-images-idx3-ubyte.gz", images, 2051)
    write_idx(tmp_path / "fashion_mnist/train-labels-idx1-ubyte.gz", np.array([9, 0, 0, 3]), 2049)
    ds = load_dataset("fashion-mnist", "train", data_dir=str(tmp_path))
    x, y = ds[0]
    assert len(ds) == 4 and y == 9 and ds.classes[9] == "ankle boot"
    assert torch.allclose(x[0], torch.from_numpy(images[0] / 255).float())


def test_truncated_gz_is_named_when_the_dataset_opens(tmp_path: Path) -> None:
    (tmp_path / "fashion_mnist").mkdir()
    images = tmp_path / "fashion_mnist/train-images-idx3-ubyte.gz"
    labels = tmp_path / "fashion_mnist/train-labels-idx1-ubyte.gz"
    write_idx(images, np.zeros((4, 28, 28)), 2051)
    write_idx(labels, np.arange(4), 2049)
    labels.write_bytes(labels.read_bytes()[:-12])  # an interrupted download
    with pytest.raises(DataFileError, match=r"labels-idx1-ubyte\.gz: truncated gzip data") as info:
        load_dataset("fashion-mnist", "train", data_dir=str(tmp_path))
    assert info.value.path == labels
    write_idx(labels, np.arange(3), 2049)
    with pytest.raises(DataFileError, match=r"holds 3 labels but .*images-idx3-ubyte\.gz holds 4"):
        load_dataset("fashion-mnist", "train", data_dir=str(tmp_path))
