"""The CPU's peak-memory measure: the resident set's high-water mark around one call."""

import os

import pytest
import torch

from spikeforge.bench import rss
from spikeforge.functional.lif import lif_sequence
from spikeforge.kernels.cpu import _pool

MiB = 2**20
needs_hwm = pytest.mark.skipif(
    rss.resident_peak_reason() is not None, reason=str(rss.resident_peak_reason())
)


@needs_hwm
def test_a_touched_allocation_counts_in_full_and_an_untouched_one_not_at_all():
    assert 48 * MiB <= rss.resident_peak_extra_bytes(lambda: torch.ones(12 * MiB)) < 52 * MiB
    # torch.empty maps pages without writing them: nothing becomes resident
    assert rss.resident_peak_extra_bytes(lambda: torch.empty(12 * MiB)) < 2 * MiB


@needs_hwm
def test_the_peak_is_the_most_held_at_once_not_the_sum():
    def one_after_another() -> torch.Tensor:
        a = torch.ones(12 * MiB)
        del a
        return torch.ones(12 * MiB)

    def both() -> tuple[torch.Tensor, torch.Tensor]:
        return torch.ones(12 * MiB), torch.ones(12 * MiB)

    assert rss.resident_peak_extra_bytes(one_after_another) < 52 * MiB
    assert rss.resident_peak_extra_bytes(both) >= 96 * MiB


@needs_hwm
def test_free_buffers_kept_by_the_output_pool_do_not_hide_the_output(monkeypatch):
    monkeypatch.setattr(_pool.POOL, "cap_bytes", 256 * MiB)
    x = torch.randn(64, 32, 4096)  # 32 MiB of spikes: pooled
    for _ in range(2):
        lif_sequence(x, backend="cpu")
    assert _pool.POOL.free_bytes >= x.numel() * 4  # the last output went back to the pool
    peak = rss.resident_peak_extra_bytes(lambda: lif_sequence(x, backend="cpu"))
    assert peak >= 0.95 * x.numel() * 4


def test_without_the_kernel_counters_it_says_why_and_measures_nothing(monkeypatch):
    monkeypatch.setattr(rss, "_CLEAR_REFS", "/nonexistent/clear_refs")
    assert "high-water mark" in rss.resident_peak_reason()
    assert rss.resident_peak_extra_bytes(lambda: pytest.fail("measured")) is None


def test_run_fresh_runs_the_function_in_a_new_process_with_its_environment(tmp_path, monkeypatch):
    (tmp_path / "probe_rows.py").write_text(
        "import os\n"
        "def row(settings, case):\n"
        "    if case.get('crash'):\n"
        "        raise ValueError('this row broke')\n"
        "    return {'pid': os.getpid(), 'mmap': os.environ.get('MALLOC_MMAP_THRESHOLD_'),\n"
        "            'threads': os.environ['OMP_NUM_THREADS'], 'got': [settings, case]}\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    fixed = rss.run_fresh("probe_rows", "row", {"a": 1}, {"threads": 2}, fixed_mmap=True)
    assert fixed["pid"] != os.getpid() and fixed["got"] == [{"a": 1}, {"threads": 2}]
    assert fixed["mmap"] == str(rss.MMAP_THRESHOLD) and fixed["threads"] == "2"
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    usual = rss.run_fresh("probe_rows", "row", {}, {}, fixed_mmap=False)
    assert usual["mmap"] is None and usual["threads"] == "1"
    broke = rss.run_fresh("probe_rows", "row", {}, {"crash": True}, fixed_mmap=False)
    assert broke == {"failed": "ValueError: this row broke"}
