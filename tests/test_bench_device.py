"""The benchmarks' device helper (CPU here; CUDA needs a GPU to measure)."""

import pytest
import torch

from spikeforge.bench import device as bd
from spikeforge.bench import rss


def test_device_helper_times_a_callable_on_cpu():
    dev = bd.bench_device("cpu")
    calls = []
    times = dev.time_ms(lambda: calls.append(sum(range(2000))), warmup=2, repeats=5, budget_s=1)
    assert len(times) == 5 and len(calls) == 2 + 5
    assert all(t > 0 for t in times)
    ms, out = dev.timed_call(lambda: "done")
    assert ms > 0 and out == "done"
    if rss.resident_peak_reason() is None:
        assert dev.peak_extra_bytes(lambda: torch.ones(1 << 23)) >= 32 * 2**20
        assert "peak_fwd_bwd_bytes_per_step" in dev.extra_columns
    else:  # no counters: said in the notes, no column
        assert dev.peak_extra_bytes(lambda: None) is None and dev.extra_columns == ()


def test_cpu_device_without_the_counters_drops_the_peak_columns(monkeypatch):
    monkeypatch.setattr(rss, "_CLEAR_REFS", "/nonexistent/clear_refs")
    dev = bd.bench_device("cpu")
    assert dev.extra_columns == () and dev.peak_extra_bytes(lambda: None) is None
    assert "not measured" in dev.notes[0] and "high-water mark" in dev.notes[0]


def test_cuda_helper_refuses_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(bd.DeviceUnavailableError, match="CUDA"):
        bd.bench_device("cuda")
    assert bd.bench_device("cpu").fused_backend == "cpu"
