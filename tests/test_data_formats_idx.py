import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from spikeforge.data.errors import DataFileError
from spikeforge.data.formats.idx import parse_idx, read_idx
from spikeforge.data.paths import find_shared_data

SHARED = find_shared_data()


@pytest.fixture(scope="module")
def shared() -> Path:
    if SHARED is None:
        pytest.skip("shared data folder (shared/data above the repo) not found")
    return SHARED


def test_t10k_images_and_labels(shared: Path) -> None:
    images = read_idx(shared / "mnist/t10k-images-idx3-ubyte.gz", 2051)
    labels = read_idx(shared / "mnist/t10k-labels-idx1-ubyte.gz", 2049)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,)
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]
    expected = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(labels).tolist() == expected


def test_decompressed_md5_matches_official(shared: Path) -> None:
    raw = gzip.decompress((shared / "mnist/t10k-labels-idx1-ubyte.gz").read_bytes())
    assert hashlib.md5(raw).hexdigest() == "27ae3e4e09519cfbb04c329615203637"
    assert np.array_equal(
        parse_idx(raw, 2049), read_idx(shared / "mnist/t10k-labels-idx1-ubyte.gz")
    )


def test_train_and_fashion_labels(shared: Path) -> None:
    assert read_idx(shared / "mnist/train-labels-idx1-ubyte.gz", 2049).shape == (60000,)
    fashion = read_idx(shared / "fashion_mnist/t10k-labels-idx1-ubyte.gz", 2049)
    assert np.bincount(fashion).tolist() == [1000] * 10


def test_raw_file_and_wrong_magic(shared: Path, tmp_path: Path) -> None:
    raw = gzip.decompress((shared / "mnist/t10k-labels-idx1-ubyte.gz").read_bytes())
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(raw)
    assert read_idx(path)[:3].tolist() == [7, 2, 1]
    with pytest.raises(ValueError, match="magic number is 2049, expected 2051"):
        read_idx(path, 2051)


def test_synthetic_int32_and_errors() -> None:
    data = np.arange(6, dtype=">i4").reshape(2, 3)
    buf = bytes([0, 0, 0x0C, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + data.tobytes()
    out = parse_idx(buf)
    assert out.shape == (2, 3) and out.tolist() == data.tolist()
    with pytest.raises(ValueError, match="payload"):
        parse_idx(buf[:-1])
    with pytest.raises(ValueError, match="not an IDX"):
        parse_idx(b"\x01\x00\x08\x01" + bytes(8))


def test_truncated_gzip_and_header_name_the_file(tmp_path: Path) -> None:
    data = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in data.shape) + data.tobytes()
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(raw)[:-10])  # an interrupted download
    with pytest.raises(DataFileError, match=r"idx3-ubyte\.gz: truncated gzip data") as info:
        read_idx(path)
    assert info.value.path == path
    path.write_bytes(raw)  # named .gz but not compressed
    with pytest.raises(DataFileError, match=r"idx3-ubyte\.gz: not gzip data"):
        read_idx(path)
    cut = tmp_path / "labels-idx1-ubyte"
    cut.write_bytes(raw[:10])  # 3 dimensions announced, the header stops inside the second
    with pytest.raises(
        DataFileError, match=r"truncated: an IDX header .* needs 16 bytes, found 10"
    ):
        read_idx(cut)
    cut.write_bytes(raw[:-1])
    with pytest.raises(DataFileError, match=r"labels-idx1-ubyte: truncated: .* needs 24 bytes"):
        read_idx(cut)
    cut.write_bytes(raw + b"\0")
    with pytest.raises(DataFileError, match="1 unexpected trailing bytes"):
        read_idx(cut)
