from pathlib import Path

import pytest

from spikeforge.data.paths import (
    ENV_VAR,
    DatasetNotFoundError,
    find_shared_data,
    locate,
    locate_any,
    search_roots,
)


def test_find_shared_data_walks_upward(tmp_path: Path) -> None:
    (tmp_path / "shared" / "data").mkdir(parents=True)
    deep = tmp_path / "repo" / "src" / "pkg"
    deep.mkdir(parents=True)
    assert find_shared_data([deep]) == (tmp_path / "shared" / "data").resolve()


def test_library_finds_the_real_shared_folder() -> None:
    shared = find_shared_data()
    if shared is None:
        pytest.skip("shared data folder (shared/data above the repo) not found")
    assert (shared / "README.md").exists()


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_dir = tmp_path / "env"
    (env_dir / "ds").mkdir(parents=True)
    (env_dir / "ds" / "a.bin").write_bytes(b"x")
    monkeypatch.setenv(ENV_VAR, str(env_dir))
    roots = search_roots()
    assert roots[0] == env_dir
    assert locate("ds", ["ds/a.bin"]) == env_dir
    explicit = tmp_path / "explicit"
    explicit.mkdir()
    assert search_roots(explicit) == [explicit]  # explicit beats the environment
    with pytest.raises(DatasetNotFoundError):
        locate("ds", ["ds/a.bin"], data_dir=explicit)
    monkeypatch.delenv(ENV_VAR)
    assert env_dir not in search_roots()


def test_error_message_names_files_and_folders(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        locate("mnist", ["mnist/train-images-idx3-ubyte.gz"], data_dir=tmp_path, hint="see X")
    message = str(info.value)
    assert "mnist/train-images-idx3-ubyte.gz" in message
    assert str(tmp_path) in message and "see X" in message
    assert f"put the files under {tmp_path}" in message
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.searched == [tmp_path]
    # nothing of the user's own searched: tell them how to point at a folder
    generic = str(DatasetNotFoundError("shd", ["shd/shd_train.h5"], []))
    assert "(no data folder found)" in generic
    assert ENV_VAR in generic and "data_dir=" in generic and "shd/shd_train.h5" in generic


def test_locate_any_picks_first_alternative_present(tmp_path: Path) -> None:
    (tmp_path / "raw").write_bytes(b"")
    assert locate_any("x", [["gz"], ["raw"]], data_dir=tmp_path) == (tmp_path, 1)
    with pytest.raises(DatasetNotFoundError, match="gz"):
        locate_any("x", [["gz"], ["nope"]], data_dir=tmp_path)
