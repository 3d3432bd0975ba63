"""``spikeforge bench trevsnn_memory`` (``bench/trevsnn_memory.py``): the saved-memory
measure, the rows it produces, and that it writes files only with ``--out``."""

import json

import pytest
import torch

from spikeforge.bench import trevsnn_memory as bench
from spikeforge.cli import BENCHMARKS, main


def test_is_registered_and_has_help(capsys):
    assert BENCHMARKS["trevsnn_memory"] == "spikeforge.bench.trevsnn_memory"
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "trevsnn_memory", "--help"])
    assert exit_info.value.code == 0
    assert "--quick" in capsys.readouterr().out


def test_saved_bytes_counts_distinct_storages_without_parameters():
    lin = torch.nn.Linear(1000, 10)  # saves its input (4 kB per row) and its weight

    def model(x):
        return lin(x).exp()  # exp saves its output (40 B per row)

    model.parameters = lin.parameters  # duck-typed: what saved_bytes reads
    x = torch.rand(8, 1000)
    assert bench.saved_bytes(model, x) == 8 * 1000 * 4 + 8 * 10 * 4


def test_measure_case_reports_the_step_of_either_model():
    settings = {"batch": 2, "size": 8, "channels": (2, 2, 2, 2), "repeats": 1}
    rev = bench.measure_case(settings, {"blocks": 1, "T": 2, "reversible": True})
    plain = bench.measure_case(settings, {"blocks": 1, "T": 2, "reversible": False})
    assert rev["params"] == plain["params"] > 0 and rev["grad_mib"] == plain["grad_mib"]
    assert rev["seconds"] > 0 and plain["saved_mib"] > 0
    sew = bench.measure_case(settings, {"resnet_width": 4, "T": 2})
    assert sew["params"] > 0 and sew["saved_mib"] > 0
    memory_only = bench.measure_case(settings, {"blocks": 1, "T": 2, "reversible": True,
                                                "repeats": 0})  # fmt: skip
    assert memory_only["seconds"] is None and memory_only["saved_mib"] == rev["saved_mib"]


def test_time_pair_times_both_models_alternating(monkeypatch):
    """Rounds alternate reversible, BPTT; the first round is a warm-up, not timed."""
    settings = {"batch": 2, "size": 8, "channels": (2, 2, 2, 2), "repeats": 3}
    ticks = iter(range(100))
    monkeypatch.setattr(bench.time, "perf_counter", lambda: float(next(ticks)))
    order = []
    real = bench.trevsnn

    def built(settings, blocks, steps, reversible):
        model = real(settings, blocks, steps, reversible)
        model.register_forward_pre_hook(lambda m, a: order.append(m.reversible))
        return model

    monkeypatch.setattr(bench, "trevsnn", built)
    got = bench.time_pair(settings, {"blocks": 1, "T": 2})
    assert order == [True, False] * 4  # warm-up round, then 3 timed rounds
    # each step is one perf_counter tick long (start, end): a median of 1 s for both
    assert got == {"reversible": 1.0, "bptt": 1.0}


@pytest.fixture
def tiny(monkeypatch):
    quick = {"batch": 2, "size": 8, "channels": (2, 2, 2, 2), "repeats": 1}
    monkeypatch.setattr(bench, "QUICK", quick)
    monkeypatch.setattr(bench, "BLOCKS", (1, 2))
    monkeypatch.setattr(bench, "STEPS", (2,))
    monkeypatch.setattr(bench, "BUDGET", ((2, 2), (4, 1)))


def test_without_out_it_prints_and_writes_nothing(tmp_path, monkeypatch, capsys):
    row = {"model": "T-RevSNN", "training": "reversible", "blocks": 1, "T": 4, "params": 10}
    row |= {"saved_mib": 1.0, "peak_mib": None, "grad_mib": 0.25, "seconds": 0.5,
            "time_ratio": 1.75}  # fmt: skip
    budget = {"T": 2, "blocks": 1, "params": 10, "stem_macs": 5, "macs_per_step": [3, 4]}
    budget |= {"head_macs": 1, "total_macs": 13}
    monkeypatch.setattr(bench, "memory_rows", lambda settings, threads=1: [row])
    monkeypatch.setattr(bench, "budget_rows", lambda settings: [budget])
    monkeypatch.chdir(tmp_path)
    assert bench.main(["--quick"]) == 0
    assert list(tmp_path.iterdir()) == []
    printed = capsys.readouterr().out
    assert "| T-RevSNN | reversible | 1 | 4 | 10 | 1.0 | n/a | 0.2 | 0.500 | 1.75× |" in printed
    assert "| 2 | 1 | 10 | 5 | 3, 4 | 1 | 13 |" in printed


@pytest.mark.slow
def test_quick_run_measures_every_row_and_writes_with_out(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "results"
    assert bench.main(["--quick", "--out", str(out)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["results"]
    result = json.loads((out / "trevsnn_memory.json").read_text())
    rows = result["memory"]
    # (blocks 1, 2 at T=4) + (T=2 at 2 blocks), each reversible and BPTT, + the ResNet
    assert len(rows) == 7 and rows[-1]["model"].startswith("SEW-ResNet-18")
    rev = {(r["blocks"], r["T"]): r for r in rows if r["training"] == "reversible"}
    bptt = {(r["blocks"], r["T"]): r for r in rows[:-1] if r["training"] == "BPTT"}
    # reversible keeps x, c^T and RNG states: the same bytes for any blocks per stage
    assert rev[1, 4]["saved_mib"] == rev[2, 4]["saved_mib"]
    assert bptt[2, 4]["saved_mib"] > bptt[1, 4]["saved_mib"]
    assert all(r["seconds"] > 0 and r["params"] > 0 for r in rows)
    for key, r in rev.items():  # reversible / BPTT of the pair timed together
        assert r["time_ratio"] == pytest.approx(r["seconds"] / bptt[key]["seconds"])
    assert all(r["time_ratio"] is None for r in rows if r["training"] == "BPTT")
    assert result["meta"]["load_average_start"] and "platform" in result["meta"]
    assert [len(r["macs_per_step"]) for r in result["budget"]] == [2, 4]
    assert (out / "trevsnn_memory.md").read_text().startswith("# T-RevSNN")


def test_bad_threads_is_refused(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--threads", "0"])
    assert "--threads must be >= 1, got 0" in capsys.readouterr().err
