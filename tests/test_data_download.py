"""Download logic against local ``file://`` URLs (tests never touch the network)."""

import hashlib

import pytest

from spikeforge.data.download import SOURCES, RemoteFile, download, fetch


def remote_for(tmp_path, payload: bytes, md5: str | None = None) -> RemoteFile:
    source = tmp_path / "server" / "file.bin"
    source.parent.mkdir()
    source.write_bytes(payload)
    return RemoteFile(source.as_uri(), "ds/file.bin", md5 or hashlib.md5(payload).hexdigest())


def test_fetch_writes_verified_file_and_skips_when_present(tmp_path):
    remote = remote_for(tmp_path, b"real bytes")
    path = fetch(remote, tmp_path / "data")
    assert path.read_bytes() == b"real bytes"
    (tmp_path / "server" / "file.bin").unlink()  # a second call must not need the source
    assert fetch(remote, tmp_path / "data") == path


def test_checksum_mismatch_leaves_nothing_behind(tmp_path):
    remote = remote_for(tmp_path, b"tampered", md5="0" * 32)
    with pytest.raises(OSError, match="expected 0000"):
        fetch(remote, tmp_path / "data")
    assert list((tmp_path / "data" / "ds").iterdir()) == []  # no partial file


def test_known_datasets_and_unknown_name(tmp_path):
    assert {"mnist", "fashion-mnist", "cifar10", "cifar100"} <= set(SOURCES)
    assert all(len(f.md5) == 32 for files in SOURCES.values() for f in files)
    with pytest.raises(ValueError, match="no download source for 'nope'"):
        download("nope", tmp_path)


def test_archives_are_unpacked_where_the_loader_looks(tmp_path):
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = 4
        archive.addfile(info, io.BytesIO(b"data"))
    payload = buffer.getvalue()
    plain = remote_for(tmp_path, payload)
    remote = RemoteFile(plain.url, "cifar10/cifar-10-python.tar.gz", plain.md5, extract=True)
    fetch(remote, tmp_path / "data")
    assert (
        tmp_path / "data" / "cifar10" / "cifar-10-batches-py" / "test_batch"
    ).read_bytes() == b"data"
