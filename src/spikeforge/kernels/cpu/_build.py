"""Compile the C kernels on first use, cache the shared library, load it with ctypes.

One C file per kernel family (``lif.c``, ``alif.c``, ``leaky.c``, ``psn.c``; what they share is in
``sf_common.h``), each compiled as a float and a double half, all objects in parallel,
then linked into one library.

The library lives in ``$SPIKEFORGE_CACHE`` (default ``$XDG_CACHE_HOME/spikeforge/kernels``
or ``~/.cache/spikeforge/kernels``) under a name that hashes the C sources, the compiler
flags, the compiler's ``--version`` and the CPU (``-march=native`` code only runs on the
CPU it was built for). It is compiled to a temporary file in that directory and moved into
place with :func:`os.replace`, so concurrent processes never load a half-written file. A
compile prints one line on stderr (where to, how long it took).

The compiler is ``$SPIKEFORGE_CC`` (default ``gcc``). When it is missing or compilation or
loading fails, :func:`library` returns ``None`` and :func:`unavailable_reason` the cause;
:func:`warn_unavailable` emits one warning per process.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

_HERE = Path(__file__).parent
SOURCES = tuple(
    _HERE / name for name in ("lif.c", "alif.c", "leaky.c", "psn.c", "bits.c")
)  # one per family; bits.c: spike tensors as bits (layers/memory.py)
HEADERS = (_HERE / "sf_common.h", _HERE / "sf_instantiate.h")
FLAGS = (
    "-O3",
    "-march=native",
    "-ffp-contract=off",  # no FMA contraction: H must round exactly like the torch reference
    "-fno-math-errno",
    "-fopenmp",
    "-std=gnu11",
    "-fPIC",
    # about halves compile time at no measurable cost to these loops:
    "-fno-unswitch-loops",
    "--param",
    "vect-epilogues-nomask=0",
)
LINK_FLAGS = ("-shared", "-fopenmp")
HALVES = ("-DSF_ONLY_F32", "-DSF_ONLY_F64")  # compiled in parallel, then linked
ABI_VERSION = 7
COMPILE_TIMEOUT_S = 120


@dataclass
class _State:
    """Per-process loader state (tests swap it out to simulate a broken toolchain)."""

    lib: ctypes.CDLL | None = None
    reason: str | None = None
    tried: bool = False
    warned: bool = False
    path: Path | None = None
    calls: dict[str, int] = field(default_factory=lambda: {"forward": 0, "backward": 0})
    lock: threading.Lock = field(default_factory=threading.Lock)


STATE = _State()


def cache_dir() -> Path:
    """Directory holding compiled kernels."""
    env = os.environ.get("SPIKEFORGE_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "spikeforge" / "kernels"


def _cpu_fingerprint() -> str:
    parts = [platform.machine()]
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("model name", "flags", "Features", "CPU part")):
                    parts.append(line.strip())
                if len(parts) > 4:
                    break
    except OSError:
        parts.append(platform.processor())
    return "\n".join(parts)


def _compiler() -> tuple[str | None, str]:
    """``(path, --version output)`` of the compiler, or ``(None, reason)``."""
    cc = os.environ.get("SPIKEFORGE_CC", "gcc")
    path = shutil.which(cc)
    if path is None:
        return None, f"C compiler {cc!r} not found (set SPIKEFORGE_CC or install gcc)"
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"C compiler {cc!r} does not run: {exc}"
    return path, out.stdout


def _objects(out: str) -> list[str]:
    """The object files of the build of ``out``: one per (source, half)."""
    return [f"{out}{i}.o" for i in range(len(SOURCES) * len(HALVES))]


def _compile(cc: str, out: str) -> None:
    """Compile every family's float and double halves concurrently, then link them all
    into ``out``."""
    jobs = [(str(src.resolve()), half) for src in SOURCES for half in HALVES]
    objs = _objects(out)
    procs = [
        subprocess.Popen(
            [cc, *FLAGS, half, "-c", "-o", obj, src],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for (src, half), obj in zip(jobs, objs, strict=True)
    ]
    errors = []
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=COMPILE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            err = f"timed out after {COMPILE_TIMEOUT_S} s"
        if proc.returncode != 0:
            lines = err.strip().splitlines()
            errors.append(lines[-1] if lines else f"exit status {proc.returncode}")
    if errors:
        raise RuntimeError(errors[0])
    proc = subprocess.run(
        [cc, *LINK_FLAGS, "-o", out, *objs],
        capture_output=True,
        text=True,
        timeout=COMPILE_TIMEOUT_S,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"link exit status {proc.returncode}")


def _build() -> tuple[ctypes.CDLL | None, str | None, Path | None]:
    cc, version = _compiler()
    if cc is None:
        return None, version, None
    key = hashlib.sha256()
    for path in (*SOURCES, *HEADERS):
        try:
            key.update(path.name.encode() + b"\0" + path.read_bytes())
        except OSError as exc:
            return None, f"kernel source {path} missing: {exc}", None
        key.update(b"\0")
    flags = " ".join((*FLAGS, *LINK_FLAGS, *HALVES))
    for part in (flags.encode(), version.encode(), _cpu_fingerprint().encode()):
        key.update(part)
        key.update(b"\0")
    out_dir = cache_dir()
    target = out_dir / f"cpu_kernels-{key.hexdigest()[:20]}.so"
    if not target.exists():
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".cpu_kernels-", suffix=".so", dir=out_dir)
            os.close(fd)
        except OSError as exc:
            return None, f"cannot write the kernel cache {out_dir}: {exc}", None
        # one line on stderr: the first call on a machine pauses for the compiler
        sys.stderr.write(f"spikeforge: compiling the fused CPU kernels once, into {out_dir} ...")
        sys.stderr.flush()
        start = time.perf_counter()
        try:
            _compile(cc, tmp)
            os.replace(tmp, target)
            sys.stderr.write(f" done in {time.perf_counter() - start:.1f} s\n")
        except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
            sys.stderr.write(" failed\n")
            return None, f"compiling the C kernels failed: {exc}", None
        finally:
            for leftover in (tmp, *_objects(tmp)):
                if os.path.exists(leftover):
                    os.unlink(leftover)
    try:
        lib = ctypes.CDLL(str(target))
        if lib.sf_abi_version() != ABI_VERSION:
            return None, f"{target} has an unexpected ABI version", None
    except (OSError, AttributeError) as exc:
        return None, f"loading {target} failed: {exc}", None
    _declare(lib)
    return lib, None, target


def _declare(lib: ctypes.CDLL) -> None:
    p, i64, i32, f64 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_double
    for suffix in ("f32", "f64"):
        fwd = getattr(lib, f"sf_lif_forward_{suffix}")
        fwd.restype = i32
        # x, v0, s, vout, k, ks, th, ts, v_reset, T, N, charge, reset, block, stream, threads
        fwd.argtypes = [p, p, p, p, p, i64, p, i64, f64, i64, i64, i32, i32, i64, i32, i32]
        bwd = getattr(lib, f"sf_lif_backward_{suffix}")
        bwd.restype = i32
        # x, v0, gs, gvT, gx, gv0, k, ks, th, ts, gk, gth, v_reset, T, N,
        # charge, reset, detach, sid, a, b, alpha, beta, channels, inner, block, stream,
        # nthreads
        bwd.argtypes = [p, p, p, p, p, p, p, i64, p, i64, p, p, f64, i64, i64]
        bwd.argtypes += [i32, i32, i32, i32, f64, f64, p, p, i64, i64, i64, i32, i32]
        coef = getattr(lib, f"sf_bn_coefficients_{suffix}")
        coef.restype = None
        coef.argtypes = [p, p, p, p, p, p, i64]  # mean, invstd, weight, bias, alpha, beta, C
        aff = getattr(lib, f"sf_bn_affine_{suffix}")
        aff.restype = None
        aff.argtypes = [p, p, p, p, i64, i64, i64, i64]  # c, alpha, beta, out, rows, N, C, inner
        lfwd = getattr(lib, f"sf_leaky_forward_{suffix}")
        lfwd.restype = i32
        # x, y0, y, yout, c, cs, rest, T, N, form, block, threads
        lfwd.argtypes = [p, p, p, p, p, i64, f64, i64, i64, i32, i64, i32]
        lbwd = getattr(lib, f"sf_leaky_backward_{suffix}")
        lbwd.restype = i32
        # x, y0, y, gy, gyT, gx, gy0, c, cs, gc, rest, T, N, form, block, threads
        lbwd.argtypes = [p, p, p, p, p, p, p, p, i64, p, f64, i64, i64, i32, i64, i32]
        afwd = getattr(lib, f"sf_alif_forward_{suffix}")
        afwd.restype = i32
        # x, v0, a0, s, vout, aout, k, ks, th, ts, b, bs, rho, v_reset, T, N, charge, reset,
        # block, threads
        afwd.argtypes = [p, p, p, p, p, p, p, i64, p, i64, p, i64, f64, f64, i64, i64]
        afwd.argtypes += [i32, i32, i64, i32]
        abwd = getattr(lib, f"sf_alif_backward_{suffix}")
        abwd.restype = i32
        # x, v0, a0, gs, gvT, gaT, gx, gv0, ga0, k, ks, th, ts, b, bs, rho, gk, gth, gb,
        # v_reset, T, N, charge, reset, detach, sid, a, b, block, threads
        abwd.argtypes = [p, p, p, p, p, p, p, p, p, p, i64, p, i64, p, i64, f64, p, p, p]
        abwd.argtypes += [f64, i64, i64, i32, i32, i32, i32, f64, f64, i64, i32]


def library() -> ctypes.CDLL | None:
    """The loaded kernel library, compiling it on first call; ``None`` if unavailable."""
    state = STATE
    if not state.tried:
        with state.lock:
            if not state.tried:
                state.lib, state.reason, state.path = _build()
                state.tried = True
    return state.lib


def unavailable_reason() -> str | None:
    """Why the library cannot be used (``None`` when it loaded)."""
    library()
    return STATE.reason


def warn_unavailable() -> None:
    """Warn (once per process) that the fused kernel is unavailable and why."""
    state = STATE
    if state.reason is not None and not state.warned:
        state.warned = True
        warnings.warn(
            f"spikeforge: fused CPU LIF kernel unavailable ({state.reason}); "
            "falling back to the plain-torch reference",
            RuntimeWarning,
            stacklevel=4,
        )
