import pickle
from pathlib import Path

import numpy as np
import pytest

from spikeforge.data.formats.cifar_pickle import parse_cifar_batch, read_cifar_batch


def write_batch(path: Path, n: int, label_keys: dict[str, list[int]], seed: int = 0) -> np.ndarray:
    """A batch file in the real CIFAR "python version" layout (protocol 2, bytes keys)."""
    data = np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)
    batch = {b"batch_label": b"testing batch 1 of 1", b"data": data}
    batch.update({k.encode(): v for k, v in label_keys.items()})
    batch[b"filenames"] = [f"img_{i}.png".encode() for i in range(n)]
    path.write_bytes(pickle.dumps(batch, protocol=2))
    return data


def test_cifar10_batch(tmp_path: Path) -> None:
    labels = [3, 8, 8, 0, 6]
    data = write_batch(tmp_path / "test_batch", 5, {"labels": labels})
    images, out = read_cifar_batch(tmp_path / "test_batch")
    assert images.shape == (5, 3, 32, 32) and images.dtype == np.uint8
    assert out.tolist() == labels
    # first 1024 values are the red plane, row-major
    assert np.array_equal(images[1, 0].reshape(-1), data[1, :1024])
    assert np.array_equal(images[1, 2].reshape(-1), data[1, 2048:])


def test_cifar100_fine_and_coarse(tmp_path: Path) -> None:
    keys = {"fine_labels": [99, 0, 42], "coarse_labels": [19, 4, 7]}
    write_batch(tmp_path / "train", 3, keys)
    assert read_cifar_batch(tmp_path / "train", "fine_labels")[1].tolist() == [99, 0, 42]
    assert read_cifar_batch(tmp_path / "train", "coarse_labels")[1].tolist() == [19, 4, 7]
    with pytest.raises(ValueError, match="lacks"):
        read_cifar_batch(tmp_path / "train", "labels")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_refuses_code_objects() -> None:
    buf = pickle.dumps({b"data": _Evil(), b"labels": [1]}, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        parse_cifar_batch(buf)


def test_shape_mismatch() -> None:
    buf = pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [1, 2]}, protocol=2)
    with pytest.raises(ValueError, match=r"\[N, 3072\]"):
        parse_cifar_batch(buf)
