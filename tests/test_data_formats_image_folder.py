from pathlib import Path

import numpy as np
import pytest

from spikeforge.data.errors import DataFileError
from spikeforge.data.formats.image_folder import list_image_folder, read_image
from spikeforge.data.paths import find_shared_data

SHARED = find_shared_data()
pytest.importorskip("PIL", reason="Pillow (test extra) decodes the CIFAR-10 JPEGs")


@pytest.fixture(scope="module")
def shared() -> Path:
    if SHARED is None:
        pytest.skip("shared data folder (shared/data above the repo) not found")
    return SHARED


def test_cifar10_jpg_listing(shared: Path) -> None:
    for split in ("train", "test"):
        paths, labels, classes = list_image_folder(shared / "cifar10_jpg" / split)
        assert len(paths) == 10000
        assert np.bincount(labels).tolist() == [1000] * 10
        assert classes[0] == "airplane" and classes[-1] == "truck"
        assert paths[0].parent.name == "airplane" and paths[0].name == "0000.jpg"


def test_decode_few_and_compare_with_lossless_png(shared: Path) -> None:
    paths, _, _ = list_image_folder(shared / "cifar10_jpg/test")
    for i in (0, 4321, 9999):
        img = read_image(paths[i])
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    # foolbox cifar10_00_3.png is test image 0 (a cat), the 0th cat in test order
    png = read_image(shared / "foolbox_samples/cifar10_00_3.png").astype(float)
    jpg = read_image(shared / "cifar10_jpg/test/cat/0000.jpg").astype(float)
    assert np.abs(png - jpg).mean() < 10.0
    gray = read_image(shared / "foolbox_samples/mnist_00_7.png", mode="L")
    assert gray.shape == (28, 28)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_image_folder(tmp_path / "nope")
    (tmp_path / "a").mkdir()
    with pytest.raises(FileNotFoundError, match="class folder"):
        list_image_folder(tmp_path, classes=["a", "b"])


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_image_is_named_when_decoded(tmp_path: Path, suffix: str) -> None:
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    path = tmp_path / f"0007{suffix}"
    Image.fromarray(pixels).save(path)
    assert read_image(path).shape == (32, 32, 3)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataFileError, match=rf"0007\{suffix}: cannot be read as an image") as info:
        read_image(path)
    assert info.value.path == path and isinstance(info.value.__cause__, OSError)  # PIL's
    path.write_bytes(b"")
    with pytest.raises(DataFileError, match=r"empty file \(0 bytes\)"):
        read_image(path)
