"""``spikeforge bench training_memory`` (``bench/training_memory.py``): the saved-bytes
counter on hand-sized cases (also through a memory mode's own hooks), the rows and their
comparisons, unavailable rows, ``--help``, and that it writes files only with ``--out``."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from spikeforge.bench import training_memory as bench
from spikeforge.cli import BENCHMARKS, main

TINY = {"batch": 2, "size": 8, "steps": [2], "resnet_steps": [2], "resnet_batch": 1}
TINY |= {"repeats": 1}


def test_is_registered_and_has_help(capsys):
    assert BENCHMARKS["training_memory"] == "spikeforge.bench.training_memory"
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "training_memory", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--quick" in out and "--out" in out and "--threads" in out


def test_bad_options_are_refused_naming_the_value(capsys):
    for argv, text in ((["--threads", "0"], "got 0"), (["--repeats", "-1"], "got -1")):
        with pytest.raises(SystemExit):
            bench.main(argv)
        assert text in capsys.readouterr().err


def _linear_forward(lin, x):
    def forward(inner):
        with inner():
            return lin(x)

    return forward


def test_saved_bytes_of_one_linear_layer_is_its_input():
    n, k = 7, 300
    lin = nn.Linear(k, 5)  # saves its input [N, K] for the weight gradient, and the weight
    x = torch.rand(n, k)
    got = bench.saved_bytes(_linear_forward(lin, x), list(lin.parameters()))
    assert got == n * k * 4  # the weight (a parameter) is excluded


def test_saved_bytes_counts_a_shared_storage_once():
    x = torch.rand(10, 100, requires_grad=True)

    def forward(inner):
        with inner():
            a = x.exp()  # saves its output a (4000 B)
            return a * a[0]  # saves a (same storage) and the view a[0] (same storage)

    assert bench.saved_bytes(forward, []) == 10 * 100 * 4


def test_the_meter_counts_what_an_outer_hook_packs():
    """A memory mode's hooks (here: 0/1 tensors kept as uint8) run; the meter counts their
    result, and backward still gets the unpacked tensors (gradients unchanged)."""
    n, k = 16, 64
    lin = nn.Linear(k, 3)
    spikes = (torch.rand(n, k) < 0.3).float()

    def pack(t):
        return t.to(torch.uint8) if t.dtype == torch.float32 and t.shape == (n, k) else t

    def unpack(p):
        return p.float() if p.dtype == torch.uint8 else p

    out_plain = lin(spikes)
    out_plain.sum().backward()
    plain = lin.weight.grad.clone()
    lin.weight.grad = None
    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        got = bench.saved_bytes(_linear_forward(lin, spikes), list(lin.parameters()))
        out = _linear_forward(lin, spikes)(lambda: bench.SavedTensorMeter(list(lin.parameters())))
    assert got == n * k  # one byte per spike, not four
    out.sum().backward()
    assert torch.equal(lin.weight.grad, plain)


def test_the_meter_agrees_with_the_memory_modes_own_count():
    """Inside ``train.memory``'s hooks the meter counts what they keep: compact's own
    :class:`MemoryStats` says the same bytes (it leaves out the BN running statistics,
    buffers that BN's backward saves and the meter counts: they are not parameters)."""
    recompute = pytest.importorskip("spikeforge.layers.recompute")
    from spikeforge.bench.training_memory_nets import spikeforge_two_conv

    torch.manual_seed(0)
    model = spikeforge_two_conv(8)
    x = torch.rand(2, 4, 3, 8, 8)
    params = list(model.parameters())
    running = sum(b.nbytes for n, b in model.named_buffers() if "running" in n)
    counted = {}
    for mode in ("full", "compact", "checkpoint"):
        with recompute.memory_mode(model, mode) as stats, bench.SavedTensorMeter(params) as meter:
            model(x)
        counted[mode] = meter.nbytes
        if mode == "compact":
            assert stats.tensors_packed > 0 and meter.nbytes == stats.bytes_after + running
            assert counted["full"] == stats.bytes_before + running
    assert counted["checkpoint"] < counted["compact"] < counted["full"] / 2


def test_packed_numpy_buffers_count_their_owner_once():
    owner = np.zeros(1000, dtype=np.float32)
    found = list(bench._buffers((owner[:10], {"b": owner[500:]}, [torch.zeros(3)])))
    addresses = {a for a, _ in found}
    assert (owner.__array_interface__["data"][0], 4000) in found
    assert len(addresses) == 2 and (min(s for _, s in found)) == 12


@pytest.mark.skipif(bench.resident_peak_reason() is not None, reason="no Linux RSS counters")
def test_graph_resident_bytes_sees_what_the_graph_holds_and_what_release_frees():
    x = torch.rand(4 * 2**20 // 4, requires_grad=True)  # 4 MiB
    held = []

    def forward():
        return x.exp().sum()  # the graph keeps exp's 4 MiB output

    def forward_kept():
        y = x.exp()
        held.append(y)  # a module-like holder keeps the graph alive past the output
        return y.sum()

    assert abs(bench.graph_resident_bytes(forward) - 4 * 2**20) < 2**20
    assert bench.graph_resident_bytes(forward_kept) < 2**20  # still held
    held.clear()
    got = bench.graph_resident_bytes(forward_kept, held.clear)
    assert abs(got - 4 * 2**20) < 2**20


def test_cases_list_every_row_in_table_order():
    rows = bench.cases(TINY)
    two = [(r["impl"], r["memory"]) for r in rows if r["net"] == "two_conv"]
    sew = [(r["impl"], r["memory"]) for r in rows if r["net"] == "sew_resnet18"]
    ours = [("spikeforge", m) for m in ("full", "compact", "checkpoint")]
    assert two == [*ours, ("spikingjelly", None), ("snntorch", None), ("relu", None)]
    assert sew == [*ours, ("spikingjelly", None), ("relu", None)]  # no snnTorch SEW-ResNet
    assert {r["batch"] for r in rows if r["net"] == "sew_resnet18"} == {1}
    two_t = bench.cases({**TINY, "steps": [4, 16]}, ["two_conv"])
    assert [r["T"] for r in two_t] == [4] * 6 + [16] * 6


def _row(impl, memory, saved, speed, net="two_conv", t=4):
    return {"net": net, "T": t, "impl": impl, "memory": memory, "batch": 2}, {
        "saved_mib": saved,
        "images_per_s": speed,
    }


def test_compare_computes_ratios_and_targets_without_asserting():
    rows = [
        {**a, **b}
        for a, b in (
            _row("spikeforge", "full", 40.0, 100.0),
            _row("spikeforge", "compact", 8.0, 96.0),
            _row("spikeforge", "checkpoint", 30.0, 50.0),
            _row("spikingjelly", None, 80.0, 70.0),
            _row("relu", None, 20.0, 300.0),
        )
    ]
    rows.append({"net": "two_conv", "T": 16, "impl": "spikeforge", "memory": "full"})
    rows[-1] |= {"batch": 2, "saved_mib": 1.0, "images_per_s": 1.0}  # no peers at T=16
    got = {(r["T"], r["impl"], r["memory"]): r for r in bench.compare(rows)}
    compact = got[4, "spikeforge", "compact"]
    assert compact["vs_sj"] == pytest.approx(0.1) and compact["vs_relu"] == pytest.approx(0.4)
    assert compact["speed_vs_full"] == pytest.approx(0.96)
    assert list(compact["targets"].values()) == [True, True, True]
    ckpt = got[4, "spikeforge", "checkpoint"]
    assert list(ckpt["targets"].values()) == [True, False, False]  # 0.375, 1.5, 0.5
    full = got[4, "spikeforge", "full"]
    assert full["targets"]["images/s >= 95% of full"] is None  # full is today's speed
    assert full["vs_sj"] == pytest.approx(0.5) and full["targets"]["saved <= ReLU net"] is False
    lone = got[16, "spikeforge", "full"]
    assert lone["vs_sj"] is None and lone["targets"]["saved <= 0.4x SpikingJelly"] is None
    assert "vs_sj" not in got[4, "spikingjelly", None]


def test_the_speed_target_is_judged_on_the_interleaved_ratio_when_there_is_one():
    rows = [
        {**a, **b}
        for a, b in (
            _row("spikeforge", "full", 40.0, 100.0),
            _row("spikeforge", "compact", 8.0, 60.0),  # separate processes: 0.6
        )
    ]
    rows[1]["paired_vs_full"] = 0.97  # interleaved on one model: 0.97
    compact = {r["memory"]: r for r in bench.compare(rows)}["compact"]
    assert compact["speed_vs_full"] == pytest.approx(0.6)
    assert compact["targets"]["images/s >= 95% of full"] is True
    rows[1]["paired_vs_full"] = 0.9
    compact = {r["memory"]: r for r in bench.compare(rows)}["compact"]
    assert compact["targets"]["images/s >= 95% of full"] is False


def test_paired_speed_times_every_mode_on_one_model_relative_to_full():
    case = {"net": "two_conv", "T": 2, "batch": 2}
    got = bench.paired_speed({**TINY, "repeats": 1}, case)
    assert set(got["paired_vs_full"]) == set(bench.MEMORY_MODES)
    assert got["paired_vs_full"]["full"] == 1.0  # its own ratio, every round
    assert all(v > 0 for v in got["paired_vs_full"].values())
    assert all(v > 0 for v in got["paired_seconds"].values())


def test_measure_rows_attaches_the_paired_ratio_to_our_rows():
    seen = []

    def runner(settings, case):
        return {"saved_mib": 1.0, "images_per_s": 10.0, "library": "x"}

    def paired(settings, case):
        seen.append((case["net"], case["T"]))
        return {"paired_vs_full": {"full": 1.0, "compact": 0.98, "checkpoint": 0.8}}

    rows = bench.measure_rows(TINY, nets=["two_conv"], runner=runner, paired_runner=paired)
    assert seen == [("two_conv", t) for t in TINY["steps"]]  # once per net and T
    ours = {r["memory"]: r for r in rows if r["impl"] == "spikeforge"}
    assert ours["compact"]["paired_vs_full"] == 0.98
    assert ours["checkpoint"]["targets"]["images/s >= 95% of full"] is False
    assert all("paired_vs_full" not in r for r in rows if r["impl"] != "spikeforge")


def test_a_missing_peer_or_memory_mode_is_an_unavailable_row(monkeypatch):
    monkeypatch.setitem(sys.modules, "snntorch", None)  # import raises ImportError
    monkeypatch.setitem(sys.modules, "spikeforge.layers.memory", None)
    monkeypatch.setitem(sys.modules, "spikeforge.layers.recompute", None)
    case = {"net": "two_conv", "T": 2, "batch": 2}
    row = bench.measure_case(TINY, {**case, "impl": "snntorch", "memory": None})
    assert row == {"unavailable": row["unavailable"]} and "snntorch" in row["unavailable"]
    row = bench.measure_case(TINY, {**case, "impl": "spikeforge", "memory": "compact"})
    assert "spikeforge.layers" in row["unavailable"]


def test_measure_case_reports_a_step_of_ours_and_of_the_relu_net():
    case = {"net": "two_conv", "T": 2, "batch": 2}
    ours = bench.measure_case(TINY, {**case, "impl": "spikeforge", "memory": "full"})
    relu = bench.measure_case(TINY, {**case, "impl": "relu", "memory": None})
    assert ours["params"] == relu["params"] == 80970  # the same layers (see the nets' test)
    for row in (ours, relu):
        assert row["saved_mib"] > 0 and row["images_per_s"] == pytest.approx(2 / row["seconds"])
    # relu keeps per image: conv1 input, BN1 input + ReLU1 output (64·8·8 each), BN2 input +
    # ReLU2 output (128·4·4 each), pool output (128·2·2): floats, T·B = 4 images
    per_image = 3 * 8 * 8 + 2 * 64 * 8 * 8 + 2 * 128 * 4 * 4 + 128 * 2 * 2
    small = 4 * 4 * (64 + 128)  # BN keeps batch mean, inverse std, running mean, var: [C]
    assert relu["saved_mib"] * bench.MIB == 4 * per_image * 4 + small


def test_fresh_process_failure_becomes_a_failed_row():
    row = bench._fresh(TINY, {"net": "nope", "impl": "relu", "memory": None, "T": 2, "batch": 1})
    assert "failed" in row and "net must be one of" in row["failed"]


def _fake_rows(settings, threads=1, nets=bench.NETS, runner=None):
    ok = {"net": "two_conv", "T": 2, "batch": 2, "impl": "relu", "memory": None}
    ok |= {"library": "torch", "params": 5, "saved_mib": 1.5, "graph_mib": 1.5}
    ok |= {"peak_mib": None, "seconds": 0.5, "images_per_s": 4.0}
    gone = {"net": "two_conv", "T": 2, "batch": 2, "impl": "snntorch", "memory": None}
    return [ok, {**gone, "unavailable": "snntorch cannot be imported (X)"}]


def test_without_out_it_prints_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "measure_rows", _fake_rows)
    monkeypatch.chdir(tmp_path)
    assert bench.main(["--quick"]) == 0
    assert list(tmp_path.iterdir()) == []
    printed = capsys.readouterr().out
    relu = "| two_conv | 2 | 2 | same net with ReLU (T·B images) | 1.50 | 1.50 | - | 4.0 |"
    assert relu in printed
    assert "| snnTorch | unavailable: snntorch cannot be imported (X) |" in printed


def test_with_out_it_writes_json_and_markdown_and_a_failure_sets_the_status(tmp_path, monkeypatch):
    def failing(*args, **kwargs):
        rows = _fake_rows(*args, **kwargs)
        broken = {k: v for k, v in rows[1].items() if k != "unavailable"}
        return [*rows, {**broken, "impl": "spikingjelly", "failed": "RuntimeError: boom"}]

    monkeypatch.setattr(bench, "measure_rows", failing)
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 1
    result = json.loads((tmp_path / "training_memory.json").read_text())
    assert result["meta"]["command"] == "spikeforge bench training_memory --quick --out " + str(
        tmp_path
    )
    assert result["meta"]["load_average_start"] and result["meta"]["cpu_count"]
    assert "FAILED: RuntimeError: boom" in (tmp_path / "training_memory.md").read_text()


@pytest.mark.slow
def test_quick_run_end_to_end_through_the_command(tmp_path):
    out = tmp_path / "results"
    run = subprocess.run(
        [sys.executable, "-m", "spikeforge", "bench", "training_memory", "--quick", "--out", out],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads((out / "training_memory.json").read_text())
    rows = {(r["net"], r["impl"], r["memory"]): r for r in result["rows"]}
    assert len(rows) == 11 and all("failed" not in r for r in rows.values())
    measured = [r for r in rows.values() if "unavailable" not in r]
    assert {r["impl"] for r in measured} >= {"spikeforge", "relu"}
    for r in measured:  # the hook count and the hook-free resident check agree
        assert r["saved_mib"] > 0 and r["images_per_s"] > 0
        if r["graph_mib"] is not None and r["impl"] != "spikingjelly":
            assert r["graph_mib"] == pytest.approx(r["saved_mib"], rel=0.2, abs=0.1)
    assert "saved ≤ 0.4× SpikingJelly" in (out / "training_memory.md").read_text()
