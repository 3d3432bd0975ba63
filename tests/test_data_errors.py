import gzip
import importlib.util
import pickle
import struct
from pathlib import Path

import pytest

from data_corruption import FORMATS, empty, garble, truncate
from spikeforge.data.errors import (
    DataFileError,
    as_data_file_error,
    describe,
    read_file_bytes,
    reading,
    require_size,
)


def _available(module: str | None) -> bool:
    return module is None or importlib.util.find_spec(module) is not None


def _cases() -> list:
    cases = []
    for name, fmt in FORMATS.items():
        marks = [] if _available(fmt.needs) else [pytest.mark.skip(reason=f"needs {fmt.needs}")]
        damages = [("empty", None), *(("cut", c) for c in fmt.cuts)]
        damages += [("garble", g) for g in fmt.garbles]
        for kind, arg in damages:
            cases.append(pytest.param(name, kind, arg, id=f"{name}-{kind}-{arg}", marks=marks))
    return cases


@pytest.mark.parametrize(("name", "kind", "arg"), _cases())
def test_every_parser_names_a_damaged_file(tmp_path: Path, name: str, kind: str, arg) -> None:
    fmt = FORMATS[name]
    path = fmt.build(tmp_path)
    fmt.read(path)  # the undamaged file reads
    if kind == "empty":
        empty(path)
    elif kind == "cut":
        truncate(path, arg)
    else:
        garble(path, *arg)
    with pytest.raises(DataFileError) as info:
        fmt.read(path)
    error = info.value
    assert isinstance(error, ValueError)  # the CLI turns it into one line + exit 2
    assert error.path == path and str(error).startswith(f"{path}: ")
    assert error.problem.strip()  # says what is wrong, not just where
    if kind == "empty":
        assert "empty file (0 bytes)" in str(error)


def test_the_message_names_the_file_and_what_is_wrong(tmp_path: Path) -> None:
    error = DataFileError("truncated: x needs 8 bytes, found 5", tmp_path / "a.bin")
    assert str(error) == f"{tmp_path / 'a.bin'}: truncated: x needs 8 bytes, found 5"
    assert error.path == tmp_path / "a.bin" and error.problem.startswith("truncated")
    assert str(DataFileError("no path yet")) == "no path yet"
    # a DataLoader worker re-raises it as type(error)(message): that must work too
    assert str(type(error)(str(error))) == str(error)
    again = pickle.loads(pickle.dumps(error))  # e.g. from a worker process
    assert str(again) == str(error) and again.path == error.path


def test_reading_adds_the_path_and_wraps_foreign_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.dat"
    with pytest.raises(DataFileError, match=r"x\.dat: bad magic$"), reading(path, "X"):
        raise DataFileError("bad magic")
    foreign = r"x\.dat: cannot be read as X \(struct\.error: "
    with pytest.raises(DataFileError, match=foreign), reading(path, "X"):
        struct.unpack("<I", b"\0")
    with (
        pytest.raises(DataFileError, match=r"x\.dat: cannot be read as X: truncated"),
        reading(path, "X"),
    ):
        raise EOFError
    # already named, or about a missing file or package: unchanged
    with pytest.raises(FileNotFoundError), reading(path, "X"):
        read_file_bytes(path, "X")
    missing = ImportError("install h5py")
    assert as_data_file_error(missing, path, "X") is missing
    assert describe(IndexError()) == "IndexError"
    assert describe(ValueError("\n  first\nsecond")) == "ValueError: first"


def test_read_file_bytes_gzip(tmp_path: Path) -> None:
    path = tmp_path / "a.gz"
    path.write_bytes(gzip.compress(b"payload"))
    assert read_file_bytes(path, "X", gzipped=None) == b"payload"
    assert read_file_bytes(path, "X") == path.read_bytes()  # gzipped=False: as stored
    path.write_bytes(gzip.compress(b"payload" * 100)[:-20])
    with pytest.raises(DataFileError, match=r"a\.gz: truncated gzip data"):
        read_file_bytes(path, "X", gzipped=None)
    path.write_bytes(b"plain bytes named .gz")
    with pytest.raises(DataFileError, match=r"a\.gz: not gzip data"):
        read_file_bytes(path, "X", gzipped=None)
    path.write_bytes(gzip.compress(b""))
    with pytest.raises(DataFileError, match="decompresses to 0 bytes"):
        read_file_bytes(path, "X", gzipped=None)
    corrupt = bytearray(gzip.compress(b"payload" * 100))
    corrupt[-8] ^= 0xFF  # the CRC
    path.write_bytes(bytes(corrupt))
    with pytest.raises(DataFileError, match="corrupt gzip data"):
        read_file_bytes(path, "X", gzipped=None)


def test_require_size() -> None:
    require_size(8, 8, "x")
    with pytest.raises(DataFileError, match="truncated: x needs 8 bytes, found 5"):
        require_size(5, 8, "x")
    with pytest.raises(DataFileError, match="3 unexpected trailing bytes"):
        require_size(11, 8, "x")
