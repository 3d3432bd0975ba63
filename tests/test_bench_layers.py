"""What the layer benchmarks share (``bench/layers.py``): timing, per-group speed-ups,
the ratio tables and the report header, the JSON record and the command line."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from spikeforge.bench import layers as bl


def test_times_ms_warms_up_once_and_brackets_each_call():
    events: list[str] = []
    times = bl.times_ms(lambda: events.append("call"), 3, lambda: events.append("sync"))
    assert len(times) == 3 and all(t >= 0 for t in times)
    assert events == ["call"] + ["sync", "call", "sync"] * 3


class _Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(2.0))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x * self.w


@pytest.mark.parametrize("layer_only", [False, True])
def test_measure_layer_times_inference_and_training(layer_only):
    layer = _Scale()
    x = torch.ones(2, 3)
    out = bl.measure_layer(layer, x, torch.ones(2, 3), repeats=4, layer_only=layer_only)
    assert set(out) == {"infer_ms", "infer_median_ms", "train_ms", "train_median_ms"}
    assert 0 <= out["infer_ms"] <= out["infer_median_ms"]  # best of the repeats first
    assert 0 <= out["train_ms"] <= out["train_median_ms"]
    assert layer.calls == 2 * (1 + 4)  # warm-up + repeats, inference and training
    # the full step backpropagates into the parameter, the layer-only one does not
    assert (layer.w.grad is None) == layer_only
    if not layer_only:
        assert float(layer.w.grad) == 6.0  # d/dw sum(x · w · g) = 6, zeroed every call


def test_measure_candidates_speedups_statuses_and_errors():
    class Slow(_Scale):
        def forward(self, x):
            torch.cumsum(torch.rand(200_000), 0)  # clearly more work than the reference
            return super().forward(x)

    def broken(T: int) -> nn.Module:
        raise KeyError("no such layer")

    cfg = {"T": [2, 3], "B": 2, "N": 4, "repeats": 2}
    candidates = [
        ("g", "ref", lambda T: _Scale()),
        ("g", "slow", lambda T: Slow()),
        ("g", "missing", "not installed"),
        ("g", "broken", broken),
    ]
    rows = bl.measure_candidates(cfg, candidates, {"g": "ref"})
    assert [(r["neuron"], r["T"]) for r in rows] == [
        (name, T) for T in (2, 3) for name in ("ref", "slow", "missing", "broken")
    ]
    by = {(r["neuron"], r["T"]): r for r in rows}
    for T in (2, 3):
        ref, slow = by["ref", T], by["slow", T]
        assert ref["train_speedup"] == ref["infer_speedup"] == 1.0
        assert slow["train_speedup"] == pytest.approx(ref["train_ms"] / slow["train_ms"])
        assert slow["infer_speedup"] == pytest.approx(ref["infer_ms"] / slow["infer_ms"])
        assert slow["infer_speedup"] < 1.0
        assert by["missing", T]["status"] == "not installed"
        assert by["broken", T]["status"] == "error: KeyError"
        assert "train_speedup" not in by["missing", T]


def test_ratio_table_and_sections_by_hand():
    rows = [
        {"neuron": "a", "T": 4, "status": "ok", "x": 1.0},
        {"neuron": "a", "T": 8, "status": "ok", "x": 2.345},
        {"neuron": "b", "T": 4, "status": "not installed"},
    ]
    assert bl.ratio_table(rows, [4, 8], "x") == [
        "| neuron | T=4 | T=8 |",
        "|---|---|---|",
        "| a | 1.00 | 2.35 |",
        "| b | not installed | - |",
    ]
    keys = ("train_speedup", "infer_speedup", "train_ms", "infer_ms")
    timed = [{"neuron": "a", "T": 4, "status": "ok", **dict.fromkeys(keys, 1.5)}]
    sections = bl.ratio_sections(timed, [4], "the torch LIF")
    titles = [line for line in sections if line.startswith("## ")]
    assert titles == [
        "## Training (forward + backward): speed-up over the torch LIF",
        "## Inference (forward, no grad): speed-up over the torch LIF",
        "## Absolute times, training (ms)",
        "## Absolute times, inference (ms)",
    ]
    assert sections.count("| a | 1.50 |") == 4


def test_a_failing_reference_does_not_abort_the_report():
    def broken(T: int) -> nn.Module:
        raise RuntimeError("out of memory")

    cfg = {"T": [2], "B": 1, "N": 2, "repeats": 1}
    candidates = [("g", "ref", broken), ("g", "other", lambda T: nn.Identity())]
    rows = bl.measure_candidates(cfg, candidates, {"g": "ref"})
    assert rows[0]["status"] == "error: RuntimeError" and rows[1]["status"] == "ok"
    text = "\n".join(bl.ratio_sections(rows, [2], "ref"))
    assert "| ref | error: RuntimeError |" in text


def _info(**extra) -> dict:
    return {"cpu_model": "x", "cores": 2, "torch": "t", "torch_threads": 2, "python": "3",
            "date": "d", "loadavg_start": [0.5], "loadavg_end": [], **extra}  # fmt: skip


def test_the_report_names_the_gpu_when_there_is_one():
    info = _info(gpu="Test GPU", gpu_capability="9.0", gpu_multiprocessors=132,
                 cuda_runtime="13.0", triton="3.6.0")  # fmt: skip
    text = "\n".join(bl.report_header("t", {"B": 1, "N": 2, "repeats": 3}, info, "cmd"))
    assert "GPU: Test GPU (capability 9.0, 132 SMs), CUDA 13.0, triton 3.6.0" in text
    info.pop("gpu")
    assert "GPU:" not in "\n".join(bl.report_header("t", {"B": 1, "N": 2, "repeats": 3}, info, ""))


def test_report_header_lines():
    lines = bl.report_header("Title", {"B": 8, "N": 64, "repeats": 5}, _info(), "python x")
    assert lines[0] == "# Title" and lines[-1] == ""
    assert "Command: `python x`  " in lines
    assert "Machine: x, 2 cores, torch t (2 threads), Python 3, d  " in lines
    assert "Layer: B = 8, N = 64, float32; best of 5 repeats" in "\n".join(lines)


def test_finish_run_records_the_end_and_writes_the_json(tmp_path):
    seen = {}

    def report(rows, cfg, info, command):
        seen.update(rows=rows, command=command)
        return "REPORT"

    info = _info()
    path = tmp_path / "sub" / "out.json"
    rows = [{"neuron": "a", "T": 4, "status": "ok"}]
    assert bl.finish_run(rows, {"T": [4]}, info, report, str(path)) == "REPORT"
    data = json.loads(path.read_text())
    assert data["rows"] == rows and data["config"] == {"T": [4]}
    assert data["command"] == seen["command"] and seen["rows"] is rows
    assert isinstance(info["loadavg_end"], list) and data["machine"]["loadavg_end"]


def test_layer_bench_main_runs_prints_and_writes(tmp_path, capsys):
    calls = []

    def run(quick, json_path, **options):
        calls.append((quick, json_path, options))
        return "the report"

    out = tmp_path / "deep" / "report.md"
    assert bl.layer_bench_main("desc", run, ["--quick", "--out", str(out)], "quick help") == 0
    assert calls == [(True, None, {})]
    assert out.read_text() == "the report" and "the report" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        bl.layer_bench_main("desc", run, ["--help"], "quick help", with_device=True)
    assert exit_.value.code == 0
    assert "--device" in capsys.readouterr().out


def test_layer_bench_main_without_a_gpu_is_one_line_and_status_2(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def run(**kwargs):
        raise AssertionError("ran without a GPU")

    assert bl.layer_bench_main("d", run, ["--device", "cuda"], "q", with_device=True) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error: --device cuda needs a CUDA GPU" in err[0]
    calls = []
    assert bl.layer_bench_main("d", lambda **k: calls.append(k) or "", [], "q", True) == 0
    assert type(calls[0]["device"]).__name__ == "BenchDevice"  # the CPU helper, the default
