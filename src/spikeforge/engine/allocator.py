"""Keep freed memory in a training process, so that its steps stop page-faulting.

A CPU training step allocates and frees the same large activation buffers every step.
glibc's malloc, by default, serves buffers above its *mmap threshold* with fresh
``mmap`` pages and gives the top of its heap back to the OS whenever more than its *trim
threshold* lies free there, which a backward pass that drops all activations at once
reaches. Every page of those buffers then faults in again on its first write, each step.

:func:`keep_freed_memory` raises both thresholds (``mallopt``): buffers up to 32 MiB,
glibc's ceiling for the setting on 64-bit machines, come from the heap, and up to 1 GiB
of free heap stays mapped. It changes the whole process and no numbers (results are
bit-identical). ``spikeforge train`` / ``run`` call it when ``SPIKEFORGE_MALLOC=keep``
(:func:`from_environment`); it is off by default because it removes the page faults but
does not make every network faster on an idle machine: ``spikeforge bench allocator``
(``benchmarks/results/allocator.md``, batch 64, T = 4, one thread) measured page faults
per step 17k -> 0.5k (T-RevSNN), 200k -> 5k (SEW-ResNet-18), 13k -> 0.5k (Spikformer V2
tiny), and step time 1.02x, 1.07x and 0.83x of the default's, peak memory within 4.1 %.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc refuses more than HEAP_MAX_SIZE / 2 = 32 MiB on 64-bit
TRIM_THRESHOLD = 1 << 30
ENV = "SPIKEFORGE_MALLOC"  # "keep": keep_freed_memory(); "default" or unset: leave malloc
CHOICES = ("default", "keep")


def keep_freed_memory() -> str | None:
    """Raise glibc malloc's mmap and trim thresholds for this process.

    Returns ``None`` when both were set, else why not: a C library without ``mallopt``
    (not glibc: musl, macOS, Windows) or a setting refused.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return f"no mallopt in the C library ({name or 'not found'}): not glibc"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    refused = [
        label
        for label, param, value in (
            ("trim threshold", M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            ("mmap threshold", M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        )
        if mallopt(param, value) != 1
    ]
    return f"mallopt refused the {' and '.join(refused)}" if refused else None


def from_environment() -> str | None:
    """What ``spikeforge train`` / ``run`` do first: :func:`keep_freed_memory` when
    ``SPIKEFORGE_MALLOC=keep``; nothing (and the reason returned) when it is ``default``
    or unset. Any other value is refused (``ValueError``)."""
    value = os.environ.get(ENV, "default").strip().lower() or "default"
    if value not in CHOICES:
        raise ValueError(f"{ENV} must be one of {', '.join(CHOICES)}, got {value!r}")
    return keep_freed_memory() if value == "keep" else f"{ENV}={value}"
