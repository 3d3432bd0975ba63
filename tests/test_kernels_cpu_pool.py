"""The fused CPU kernels' output pool: released buffers come back, mapped, for the same size."""

import gc

import pytest
import torch

from spikeforge.kernels.cpu import _pool
from spikeforge.kernels.cpu._pool import MIN_BYTES, Pool

MiB = 2**20


def _pointer(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def test_a_released_buffer_is_handed_out_again_for_the_same_size():
    pool = Pool(64 * MiB)
    a = pool.empty((2, MiB // 4), torch.float32)  # 2 MiB
    where = _pointer(a)
    del a
    gc.collect()
    assert pool.free_bytes == 2 * MiB
    b = pool.empty((MiB // 2,), torch.float32)  # same bytes, another shape
    assert _pointer(b) == where and b.shape == (MiB // 2,)
    assert (pool.hits, pool.misses, pool.free_bytes) == (1, 1, 0)
    c = pool.empty((MiB // 2,), torch.float32)  # b is alive: a new buffer
    assert _pointer(c) != where and pool.misses == 2


def test_a_view_keeps_the_buffer_out_of_the_pool():
    pool = Pool(64 * MiB)
    a = pool.empty((4, MiB // 4), torch.float32)
    row = a[1]
    del a
    gc.collect()
    assert pool.free_bytes == 0  # the view still uses the memory
    row.fill_(1.0)
    del row
    gc.collect()
    assert pool.free_bytes == 4 * MiB


def test_small_sizes_other_dtypes_and_a_zero_cap_bypass_the_pool():
    pool = Pool(64 * MiB)
    small = pool.empty((MIN_BYTES // 4 - 1,), torch.float32)
    half = pool.empty((MIN_BYTES,), torch.float16)
    assert (pool.hits, pool.misses) == (0, 0)
    assert small.dtype == torch.float32 and half.dtype == torch.float16
    off = Pool(0)
    off.empty((MIN_BYTES,), torch.float32)
    assert (off.hits, off.misses) == (0, 0)
    assert 8 * MiB >= MIN_BYTES  # a [16, 32, 4096] layer's 8 MiB outputs are pooled


def test_free_buffers_beyond_the_cap_are_dropped_oldest_first():
    pool = Pool(5 * MiB)
    two = pool.empty((MiB // 2,), torch.float32)  # 2 MiB
    three = pool.empty((3 * MiB // 4,), torch.float32)  # 3 MiB
    one = pool.empty((MiB // 4,), torch.float32)  # 1 MiB
    del two, three
    gc.collect()
    assert pool.free_bytes == 5 * MiB
    del one  # 6 MiB free > cap: the 2 MiB buffer (released first) goes
    gc.collect()
    assert pool.free_bytes == 4 * MiB
    assert pool.empty((MiB // 2,), torch.float32) is not None and pool.misses == 4
    pool.clear()
    assert pool.free_bytes == 0


@pytest.mark.parametrize(("value", "expected"), [("16", 16 * MiB), ("0", 0), ("x", 1024 * MiB)])
def test_the_cap_comes_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("SPIKEFORGE_CPU_POOL_MB", value)
    assert _pool._cap_from_env() == expected
