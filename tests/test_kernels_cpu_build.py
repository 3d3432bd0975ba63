"""Building and loading the C kernels (``kernels/cpu/_build.py``): the cache directory,
the library's name (a hash of what decides the machine code), the parallel compile and
link, and the fallback with one warning when the toolchain is missing or fails."""

from __future__ import annotations

import os
import re
import shutil
import stat
import warnings
from pathlib import Path

import pytest
import torch

from spikeforge.functional.lif import LIFParameters, lif_sequence
from spikeforge.kernels.cpu import _build
from spikeforge.kernels.cpu.lif import supports

LIBRARY_NAME = re.compile(r"cpu_kernels-[0-9a-f]{20}\.so")


def _fresh_state(monkeypatch, tmp_path, cc):
    monkeypatch.setattr(_build, "STATE", _build._State())
    monkeypatch.setenv("SPIKEFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SPIKEFORGE_CC", cc)


def test_missing_compiler_falls_back_with_one_warning(monkeypatch, tmp_path):
    _fresh_state(monkeypatch, tmp_path, str(tmp_path / "no-such-cc"))
    x = torch.randn(4, 2, 6)
    with pytest.warns(RuntimeWarning, match="not found") as record:
        s, st_ = lif_sequence(x, backend="auto")
    assert len(record) == 1
    s_ref, st_ref = lif_sequence(x, backend="torch")
    assert torch.equal(s, s_ref) and torch.equal(st_.v, st_ref.v)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only once per process
        lif_sequence(x, backend="auto")
    with pytest.raises(ValueError, match="not found"):
        lif_sequence(x, backend="cpu")


def test_failing_compilation_falls_back_with_the_cause(monkeypatch, tmp_path):
    fake = tmp_path / "fakecc"
    fake.write_text(
        '#!/bin/sh\nif [ "$1" = "--version" ]; then echo fake 1.0; exit 0; fi\n'
        'echo "fatal error: simulated failure" >&2\nexit 1\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    _fresh_state(monkeypatch, tmp_path, str(fake))
    with pytest.warns(RuntimeWarning, match="simulated failure"):
        assert supports(torch.randn(2, 2), LIFParameters()) is not None
    assert not any(p.suffix == ".so" for p in (tmp_path / "cache").iterdir())


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SPIKEFORGE_CACHE", str(tmp_path))
    assert _build.cache_dir() == tmp_path
    monkeypatch.delenv("SPIKEFORGE_CACHE")
    assert _build.cache_dir().parts[-2:] == ("spikeforge", "kernels")
    assert os.path.isabs(_build.cache_dir())


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("SPIKEFORGE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _build.cache_dir() == tmp_path / "spikeforge" / "kernels"
    monkeypatch.setenv("SPIKEFORGE_CACHE", "~/k")
    assert _build.cache_dir() == Path("~/k").expanduser()


def _recording_cc(tmp_path: Path) -> tuple[Path, Path]:
    """A fake compiler that logs each command line and writes its ``-o`` file."""
    log = tmp_path / "cc.log"
    cc = tmp_path / "fakecc"
    cc.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo fakecc 1.0; exit 0; fi\n'
        f'echo "$@" >> "{log}"\n'
        "while [ $# -gt 0 ]; do\n"
        '  if [ "$1" = "-o" ]; then shift; echo built > "$1"; fi; shift\n'
        "done\n"
    )
    cc.chmod(cc.stat().st_mode | stat.S_IEXEC)
    return cc, log


def test_every_family_is_compiled_in_both_halves_then_linked_once(tmp_path):
    cc, log = _recording_cc(tmp_path)
    out = str(tmp_path / "lib.so")
    _build._compile(str(cc), out)
    lines = log.read_text().splitlines()
    compiles, links = lines[:-1], lines[-1:]
    assert len(compiles) == len(_build.SOURCES) * len(_build.HALVES) == 2 * len(_build.SOURCES)
    jobs = set()
    for line in compiles:
        args = line.split()
        assert "-c" in args and "-ffp-contract=off" in args and "-march=native" in args
        (half,) = [a for a in args if a in _build.HALVES]
        (source,) = [Path(a).name for a in args if a.endswith(".c")]
        jobs.add((source, half))
    assert jobs == {(s.name, h) for s in _build.SOURCES for h in _build.HALVES}
    link = links[0].split()
    assert "-shared" in link and link[link.index("-o") + 1] == out
    assert set(_build._objects(out)) <= set(link)
    assert Path(out).read_text() == "built\n"


def _library_path(monkeypatch, tmp_path: Path, cc: Path) -> Path:
    """Where ``_build`` puts the library for the sources now in place (the fake compiler's
    output is no shared library, so loading it fails and the reason names the path)."""
    monkeypatch.setenv("SPIKEFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SPIKEFORGE_CC", str(cc))
    lib, reason, path = _build._build()
    assert lib is None and path is None and reason is not None
    assert reason.startswith("loading ") and "failed" in reason, reason
    (name,) = [p for p in (tmp_path / "cache").iterdir() if LIBRARY_NAME.fullmatch(p.name)]
    assert str(name) in reason
    return name


def test_the_library_name_hashes_the_sources(monkeypatch, tmp_path, capsys):
    sources = tmp_path / "src"
    sources.mkdir()
    for path in (*_build.SOURCES, *_build.HEADERS):
        shutil.copy(path, sources / path.name)
    monkeypatch.setattr(_build, "SOURCES", tuple(sources / p.name for p in _build.SOURCES))
    monkeypatch.setattr(_build, "HEADERS", tuple(sources / p.name for p in _build.HEADERS))
    cc, log = _recording_cc(tmp_path)
    first = _library_path(monkeypatch, tmp_path, cc)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "compiling the fused CPU kernels once" in err
    assert "done in" in err
    compiled = len(log.read_text().splitlines())

    # the same sources: the cached file is taken, nothing is compiled again
    assert _library_path(monkeypatch, tmp_path, cc) == first
    assert len(log.read_text().splitlines()) == compiled
    assert capsys.readouterr().err == ""

    # one changed byte in the shared header: a new library
    header = sources / "sf_common.h"
    header.write_bytes(header.read_bytes() + b"\n")
    _build._build()
    names = {p for p in (tmp_path / "cache").iterdir() if LIBRARY_NAME.fullmatch(p.name)}
    assert len(names) == 2 and first in names
    # no temporary library or object file is left behind
    assert {p.name for p in (tmp_path / "cache").iterdir()} == {p.name for p in names}


def test_the_library_name_hashes_the_compiler_version(monkeypatch, tmp_path):
    cc, _ = _recording_cc(tmp_path)
    first = _library_path(monkeypatch, tmp_path, cc)
    cc.write_text(cc.read_text().replace("fakecc 1.0", "fakecc 2.0"))
    lib, reason, _ = _build._build()
    assert lib is None and first.name not in reason
    assert len([p for p in (tmp_path / "cache").iterdir() if LIBRARY_NAME.fullmatch(p.name)]) == 2


def test_a_compiler_that_does_not_run_is_named(monkeypatch, tmp_path):
    broken = tmp_path / "brokencc"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("SPIKEFORGE_CC", str(broken))
    path, reason = _build._compiler()
    assert path is None and "does not run" in reason and "brokencc" in reason


def test_the_real_library_loads_once_per_process():
    reason = _build.unavailable_reason()
    if reason is not None:
        pytest.skip(f"fused CPU kernel unavailable: {reason}")
    lib = _build.library()
    assert lib is _build.library()  # built (or found) once, then the same object
    assert lib.sf_abi_version() == _build.ABI_VERSION
    assert LIBRARY_NAME.fullmatch(_build.STATE.path.name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _build.warn_unavailable()  # nothing to warn about
    assert supports(torch.zeros(2, 2), LIFParameters()) is None
    assert lif_sequence(torch.ones(2, 1), backend="cpu")[0].shape == (2, 1)
