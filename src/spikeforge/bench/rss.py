"""Peak extra memory of one call on the CPU, read from the kernel's resident-set counters.

CUDA's caching allocator keeps a peak statistic (``torch.cuda.max_memory_allocated``); the
CPU has none, and the memory a layer uses there comes from three allocators (torch's, glibc's
heap, and the fused kernel's output pool, which holds numpy buffers). What all of them share
is the process's resident set, so the CPU measure is Linux's high-water mark ``VmHWM``:
reset it to the current resident set (writing ``5`` to ``/proc/self/clear_refs``), run the
call, and read how far above the starting point it rose.

Memory that is already resident but free would hide a call's allocations (it is reused
without raising the resident set), so before the reset the output pool's free buffers are
dropped and glibc returns its free pages (``malloc_trim``). What remains in the number is
what a user sees in ``top``: the call's tensors, allocator slack and page granularity.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


def _status_kib(field: str) -> int:
    with open(_STATUS, encoding="ascii") as f:
        m = re.search(rf"^{field}:\s+(\d+) kB$", f.read(), re.MULTILINE)
    if m is None:
        raise OSError(f"{_STATUS} has no {field} line")
    return int(m.group(1))


def _reset_high_water_mark() -> None:
    with open(_CLEAR_REFS, "w", encoding="ascii") as f:
        f.write("5")  # 5: reset VmHWM to the current resident set (Linux >= 4.0)


def resident_peak_reason() -> str | None:
    """Why the resident peak cannot be measured here, or ``None`` when it can."""
    try:
        _status_kib("VmHWM")
        _reset_high_water_mark()
    except OSError as exc:
        return f"no resettable resident-set high-water mark ({type(exc).__name__}: {exc})"
    return None


def _trim_free_memory() -> None:
    """Drop the output pool's free buffers and return glibc's free pages to the OS."""
    from ..kernels.cpu._pool import POOL

    gc.collect()
    POOL.clear()
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc: nothing to trim
        trim = None
    if trim is not None:
        trim(0)


def resident_peak_extra_bytes(fn: Callable[[], Any]) -> int | None:
    """Bytes by which the resident set rose above its starting point at its highest while
    ``fn`` ran (its result included, then discarded); ``None`` where Linux's counters are
    missing (see :func:`resident_peak_reason`)."""
    if resident_peak_reason() is not None:
        return None
    _trim_free_memory()
    _reset_high_water_mark()
    before = _status_kib("VmRSS")
    out = fn()
    peak = _status_kib("VmHWM")
    del out
    return max(0, peak - before) * 1024


# bytes; fixed so glibc's allocator does not move its mmap threshold between rows
MMAP_THRESHOLD = 131072


def run_fresh(
    module: str, function: str, settings: dict[str, Any], case: dict[str, Any], fixed_mmap: bool
) -> dict[str, Any]:
    """``module.function(settings, case)`` in a fresh Python process (one thread per
    ``case["threads"]``, default 1); its JSON result, or ``{"failed": last line of its
    error}``. With ``fixed_mmap`` glibc's mmap threshold is fixed: a row's resident peak
    is then neither lowered by memory an earlier row left free nor raised by the
    allocator moving its threshold. Time with ``fixed_mmap=False``: under the fixed
    threshold every large tensor is fresh pages, faulted in on first write."""
    env = {**os.environ, "OMP_NUM_THREADS": str(case.get("threads", 1))}
    if fixed_mmap:
        env["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD)
    code = (
        f"import json, sys; from {module} import {function}; "
        f"a = json.loads(sys.argv[1]); print(json.dumps({function}(a['settings'], a['case'])))"
    )
    payload = json.dumps({"settings": settings, "case": case})
    run = subprocess.run(
        [sys.executable, "-c", code, payload], env=env, capture_output=True, text=True
    )
    if run.returncode != 0:
        lines = run.stderr.strip().splitlines() or [f"exit status {run.returncode}"]
        return {"failed": lines[-1]}
    return json.loads(run.stdout.strip().splitlines()[-1])
