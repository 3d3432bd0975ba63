"""A small caching allocator for the fused kernel's large outputs (spikes, dL/dx).

A fresh output pays one page fault per 4 KiB page on first touch: measured 3-7 GB/s
against 30-55 GB/s for writing into memory that is already mapped (``PERF_NOTES.md``:
≈ 9 ms per 32 MiB output). glibc serves allocations above 32 MiB with a fresh ``mmap``
every time, and smaller ones from its heap, whose free top it returns to the OS once it
exceeds twice the last ``mmap`` size: a ``[16, 32, 4096]`` float32 LIF layer's spikes and
dL/dx (8 MiB each) were faulted afresh in most training steps (2,000-4,000 faults per
forward + backward, which doubled its median time on the 2-core machine). A training loop
asks for the same sizes every iteration, so this pool keeps released buffers and hands
them out again, already mapped.

Buffers are numpy byte arrays; a tensor is a ``torch.from_numpy`` view of one, and a
``weakref.finalize`` on that view puts the buffer back on the free list when the tensor
(and every view of it) is gone. Only sizes of at least :data:`MIN_BYTES` use the pool;
at most ``$SPIKEFORGE_CPU_POOL_MB`` MiB (default 1024; 0 disables it) of *free* buffers
are kept. Such tensors behave like any other, except that their storage cannot be resized.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict

import numpy as np
import torch

MIN_BYTES = 1024 * 1024
_NP_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


class Pool:
    """Free buffers by exact byte size, oldest evicted first beyond ``cap_bytes``."""

    def __init__(self, cap_bytes: int) -> None:
        self.cap_bytes = cap_bytes
        self.free_bytes = 0
        self.hits = 0
        self.misses = 0
        self._free: OrderedDict[int, list[np.ndarray]] = OrderedDict()
        self._lock = threading.RLock()  # a release can run from GC inside empty()

    def empty(self, shape: torch.Size | tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """An uninitialised tensor, from the pool when it is large enough."""
        count = 1
        for d in shape:
            count *= int(d)
        nbytes = count * torch.empty((), dtype=dtype).element_size()
        if self.cap_bytes <= 0 or nbytes < MIN_BYTES or dtype not in _NP_DTYPES:
            return torch.empty(shape, dtype=dtype)
        buf = None
        with self._lock:
            bucket = self._free.get(nbytes)
            if bucket:
                buf = bucket.pop()
                self.free_bytes -= nbytes
                if not bucket:
                    del self._free[nbytes]
                self.hits += 1
            else:
                self.misses += 1
        if buf is None:
            buf = np.empty(nbytes, dtype=np.uint8)
        arr = buf.view(_NP_DTYPES[dtype]).reshape(tuple(int(d) for d in shape))
        weakref.finalize(arr, self._release, buf)
        return torch.from_numpy(arr)

    def _release(self, buf: np.ndarray) -> None:
        nbytes = buf.nbytes
        with self._lock:
            if nbytes > self.cap_bytes:
                return
            self._free.setdefault(nbytes, []).append(buf)
            self._free.move_to_end(nbytes)
            self.free_bytes += nbytes
            while self.free_bytes > self.cap_bytes and self._free:
                size, bucket = next(iter(self._free.items()))
                bucket.pop(0)
                self.free_bytes -= size
                if not bucket:
                    del self._free[size]

    def clear(self) -> None:
        """Drop every free buffer (returns their memory to the OS)."""
        with self._lock:
            self._free.clear()
            self.free_bytes = 0


def _cap_from_env() -> int:
    try:
        return int(float(os.environ.get("SPIKEFORGE_CPU_POOL_MB", "1024")) * 1024 * 1024)
    except ValueError:
        return 1024 * 1024 * 1024


POOL = Pool(_cap_from_env())
