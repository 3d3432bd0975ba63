"""Where and how the benchmarks measure: the device helper (CPU or CUDA clock and peak
memory), machine description, waiting for an idle machine, saved-for-backward bytes."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import time
from collections.abc import Callable
from typing import Any

import torch

from .rss import resident_peak_extra_bytes, resident_peak_reason

DEVICES = ("cpu", "cuda")
_PEAK_COLUMNS = ("peak_fwd_infer_bytes_per_step", "peak_fwd_bwd_bytes_per_step")


class DeviceUnavailableError(RuntimeError):
    """The requested device cannot be used on this machine."""


class BenchDevice:
    """What differs between devices, chosen once per run: how a call is timed, whether
    peak memory can be read, which fused backend the targets compare, and the report's
    device-specific notes and columns. This base class is the CPU: work is done when a
    call returns, and peak memory is the resident set's high-water mark (:mod:`.rss`)."""

    name = "cpu"
    fused_backend = "cpu"  # "spikeforge <this>" is the row the targets are about
    memory_label = "DRAM"  # where the large copy probe lands

    @property
    def extra_columns(self) -> tuple[str, ...]:
        """Row fields the report shows on this device beyond the common columns."""
        return () if resident_peak_reason() else _PEAK_COLUMNS

    @property
    def notes(self) -> tuple[str, ...]:
        why = resident_peak_reason()
        if why:
            return (f"Peak extra memory: not measured on this machine ({why}).",)
        return (
            "Peak: how far the process's resident set rose during the call (Linux VmHWM, "
            "reset before it), per neuron-step, with the fused kernel's output pool emptied "
            "and glibc's free memory trimmed first, so that no implementation reuses memory "
            "kept from an earlier call; allocator slack and page granularity included.",
        )

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.name)

    def synchronize(self) -> None:
        """Wait until work queued by earlier calls has finished (none is queued on CPU)."""

    def timed_call(self, fn: Callable[[], Any]) -> tuple[float, Any]:
        """``(milliseconds, result)`` of one call of ``fn``, its queued work included."""
        self.synchronize()  # earlier work must not be billed to this call
        t0 = time.perf_counter()
        out = fn()
        self.synchronize()
        return (time.perf_counter() - t0) * 1e3, out

    def time_ms(
        self, fn: Callable[[], Any], warmup: int, repeats: int, budget_s: float
    ) -> list[float]:
        """Times (ms) of at least 3 calls of ``fn`` after ``warmup`` untimed ones; at most
        ``repeats``, fewer when the first timed call says they would exceed ``budget_s``."""
        for _ in range(warmup):
            fn()
        first, _ = self.timed_call(fn)
        n = max(3, min(repeats, int(budget_s / max(first * 1e-3, 1e-6))))
        return [first] + [self.timed_call(fn)[0] for _ in range(n - 1)]

    def peak_extra_bytes(self, fn: Callable[[], Any]) -> int | None:
        """Peak bytes ``fn`` adds to what was in use before; ``None`` where it cannot be
        read (on CPU: no resettable resident-set high-water mark)."""
        return resident_peak_extra_bytes(fn)

    def info(self) -> dict[str, Any]:
        """Device details for the machine record (the CPU's are in :func:`machine_info`)."""
        return {}


class CudaBenchDevice(BenchDevice):
    """A CUDA GPU: kernels run asynchronously, so every timed call is bracketed by
    ``torch.cuda.synchronize()``; peak memory comes from the caching allocator."""

    name = "cuda"
    fused_backend = "triton"
    memory_label = "GPU memory"
    extra_columns = ("first_fwd_infer_ms", "first_fwd_bwd_ms", *_PEAK_COLUMNS)
    notes = (
        "spikeforge cpu (the fused C kernel) is not run: it takes CPU tensors only.",
        "Every timed call is bracketed by torch.cuda.synchronize(): wall-clock times, "
        "kernel launches included. First calls are timed before any warm-up; for Triton "
        "kernels they include the JIT compile unless Triton's on-disk cache already held "
        "them. Peak: torch.cuda.max_memory_allocated() above the memory allocated before "
        "the call, per neuron-step.",
    )

    def synchronize(self) -> None:
        torch.cuda.synchronize()

    def peak_extra_bytes(self, fn: Callable[[], Any]) -> int | None:
        self.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        self.synchronize()
        return torch.cuda.max_memory_allocated() - before

    def info(self) -> dict[str, Any]:
        index = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return {
            "gpu": props.name,
            "gpu_capability": f"{props.major}.{props.minor}",
            "gpu_multiprocessors": props.multi_processor_count,
            "gpu_memory_GiB": round(props.total_memory / 2**30, 1),
            "cuda_runtime": torch.version.cuda,
            "cuda_driver_api": _cuda_driver_api_version(),
            "nvidia_driver": _nvidia_driver_version(index),
            "triton": _package_version("triton"),
        }


def bench_device(name: str) -> BenchDevice:
    """The helper for device ``name``; raises :class:`DeviceUnavailableError` (one line) when
    ``name`` is ``"cuda"`` and torch sees no CUDA device."""
    if name == "cpu":
        return BenchDevice()
    if name != "cuda":
        raise ValueError(f"device must be one of {DEVICES}, got {name!r}")
    if not torch.cuda.is_available():
        why = (
            f"this torch build ({torch.__version__}) has no CUDA support"
            if torch.version.cuda is None
            else f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device"
        )
        raise DeviceUnavailableError(
            f"--device cuda needs a CUDA GPU, but torch.cuda.is_available() is False: {why}"
        )
    return CudaBenchDevice()


def _cuda_driver_api_version() -> str | None:
    """The CUDA driver API version, e.g. ``"12.4"``; torch exposes it only privately."""
    getter = getattr(torch._C, "_cuda_getDriverVersion", None)
    try:
        v = int(getter()) if getter is not None else 0
    except (RuntimeError, TypeError, ValueError):
        return None
    return f"{v // 1000}.{v % 1000 // 10}" if v else None


def _nvidia_driver_version(index: int) -> str | None:
    """The kernel driver's version from ``nvidia-smi``, when it is installed."""
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--id={index}", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0] if out else None


def _package_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


# ---------------------------------------------------------------------------- machine


def machine_info() -> dict[str, Any]:
    """CPU model, cores, torch version, threads, date, load average."""
    model = platform.processor() or platform.machine()
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name") and model in ("", platform.machine()):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags") and not flags:
                    flags = line
    except OSError:
        pass
    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    return {
        "cpu_model": model,
        "avx512": "avx512f" in flags,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "loadavg_start": load,
    }


# ------------------------------------------------------------------------- measuring


def _busy_fraction(dt: float = 0.5) -> float | None:
    """Fraction of CPU time the whole machine spent busy over ``dt`` (Linux only)."""

    def read() -> tuple[int, int]:
        with open("/proc/stat", encoding="utf-8") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]

    try:
        t1, i1 = read()
        time.sleep(dt)
        t2, i2 = read()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (i2 - i1) / max(1, t2 - t1)


_WAIT_BUDGET = {"left_s": 0.0}


def wait_for_quiet(max_wait_s: float, threshold: float = 0.15) -> tuple[float, float | None]:
    """Wait (up to ``max_wait_s``) until other processes leave the CPUs idle.

    On a 2-core machine one busy neighbour turns a 2-thread kernel's time into scheduler
    time slices, so every measurement starts from an idle machine when it can. Returns
    ``(seconds waited, busy fraction when measuring started)``.
    """
    start = time.perf_counter()
    limit = min(max_wait_s, _WAIT_BUDGET["left_s"])
    busy = _busy_fraction(0.5 if limit > 0 else 0.1)
    while busy is not None and busy > threshold and time.perf_counter() - start < limit:
        time.sleep(1.0)
        busy = _busy_fraction()
    waited = time.perf_counter() - start
    _WAIT_BUDGET["left_s"] = max(0.0, _WAIT_BUDGET["left_s"] - waited)
    return waited, busy


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else 0.5 * (s[m - 1] + s[m])


def saved_bytes(fn: Callable[[], Any]) -> int:
    """Bytes of the unique storages autograd saves for backward while ``fn`` runs."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        storages[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(storages.values())
