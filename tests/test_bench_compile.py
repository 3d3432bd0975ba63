"""``spikeforge bench compile``: its options and checks, the settings ``--quick`` picks,
the ratios, differences and report it computes (checked on hand-made rows), one training
step by hand, and one tiny run (dynamo's ``eager`` backend, no Inductor build) that
writes its results only when given ``--out``. No timing is asserted."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch

from spikeforge.bench import compile as bc
from spikeforge.cli import BENCHMARKS, main
from spikeforge.kernels.cpu import _build


def test_help_lists_the_options_and_writes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        bc.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for option in ("--quick", "--timesteps", "--batch", "--input-size", "--repeats",
                   "--threads", "--backends", "--compile-backend", "--out"):  # fmt: skip
        assert option in out
    assert "spikeforge bench compile" in out
    assert list(tmp_path.iterdir()) == []
    assert BENCHMARKS["compile"] == "spikeforge.bench.compile"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--input-size", "7"], "--input-size must be even and >= 2 (one 2x2 pool), got 7"),
        (["--batch", "0"], "--batch must be >= 1, got 0"),
        (["--quick", "--repeats", "-1"], "--repeats must be >= 1, got -1"),
        (["--backends", "triton"], "invalid choice: 'triton'"),
    ],
)
def test_bad_options_are_refused_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        bc.main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_an_option_given_beats_quick_which_beats_the_default():
    args = bc.parser().parse_args(
        ["--quick", "--threads", "2", "--compile-backend", "eager", "--batch", "64"]
    )
    s = bc.settings_from(args)
    assert (s.timesteps, s.batch, s.input_size, s.repeats) == (4, 64, 8, 3)
    assert s.backends == ("auto",) and s.threads == 2 and s.compile_backend == "eager"
    full = bc.settings_from(bc.parser().parse_args(["--backends", "torch", "auto", "torch"]))
    assert full.backends == ("torch", "auto") and full.batch == 32 and full.timesteps == 8
    assert full.compile_backend == "inductor" and full.repeats == 20


def test_batch_and_model_follow_the_settings_and_the_seed():
    s = bc.Settings(timesteps=3, batch=5, input_size=6)
    x, y = bc.make_batch(s)
    assert x.shape == (3, 5, 1, 6, 6) and y.shape == (5,)
    x2, y2 = bc.make_batch(s)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    a, b = bc.build_model("auto", s), bc.build_model("torch", s)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert a[1].backend == "auto" and b[1].backend == "torch"  # the LIF stages
    assert a(x).shape == (3, 5, 10)


def test_a_training_step_is_sgd_on_the_time_averaged_cross_entropy():
    s = bc.Settings(timesteps=2, batch=3, input_size=4)
    model = bc.build_model("torch", s)
    x, y = bc.make_batch(s)
    before = [p.detach().clone() for p in model.parameters()]
    loss = torch.nn.functional.cross_entropy(model(x).mean(0), y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    step_loss = bc.train_step(model, opt, x, y)
    assert torch.equal(step_loss, loss.detach())
    for p, p0, g in zip(model.parameters(), before, grads, strict=True):
        torch.testing.assert_close(p.detach(), p0 - 0.05 * g)


def test_ratios_and_first_step_differences_by_hand():
    rows = [
        {"backend": "auto", "mode": "eager", "step_median_ms": 6.0},
        {"backend": "auto", "mode": "compiled", "step_median_ms": 4.0},
        {"backend": "torch", "mode": "eager", "step_median_ms": 9.0},
    ]
    assert bc.ratios(rows) == {"auto": 1.5}  # torch has no compiled row: no ratio
    loss = torch.tensor(1.0)
    g = [torch.tensor([1.0, 2.0]), None]
    assert bc.first_step_difference((loss, g), (loss + 0.25, [g[0] + 0.5, None])) == 0.5
    assert bc.first_step_difference((loss, g), (loss, [g[0], torch.zeros(1)])) == float("inf")


def test_the_report_has_a_row_per_mode_and_a_verdict_per_backend():
    row = {"first_step_s": 1.0, "step_ms": 2.0, "step_median_ms": 3.0}
    result = {
        "settings": asdict(bc.Settings()) | {"backends": ["auto"]},
        "machine": {
            "cpu_model": "cpu X",
            "cores": 2,
            "torch": "t",
            "python": "3",
            "date": "d",
            "loadavg_start": [1.0],
            "loadavg_end": [2.0],
        },
        "rows": [
            {"backend": "auto", "mode": "eager", **row, "kernel_calls_per_step": 4},
            {"backend": "auto", "mode": "compiled", **row, "kernel_calls_per_step": 4},
        ],
        "eager_over_compiled": {"auto": 0.8},
        "first_step_max_difference": {"auto": 1e-7},
    }
    text = bc.markdown(result, "spikeforge bench compile --quick")
    assert "`spikeforge bench compile --quick`" in text and "cpu X, 2 cores" in text
    assert "| auto | eager | 1.00 | 2.00 | 3.00 | 4 |" in text
    assert "| auto | compiled | 1.00 | 2.00 | 3.00 | 4 |" in text
    assert "= 0.80 (compiled is not faster)" in text and "1.00e-07" in text


def test_a_tiny_run_writes_only_with_out(tmp_path, monkeypatch, capsys, one_thread):
    """Through the CLI; the fused kernel runs in both modes (4 calls per step: forward
    and backward of two LIF layers)."""
    if _build.unavailable_reason() is not None:
        pytest.skip(f"fused CPU kernel unavailable: {_build.unavailable_reason()}")
    monkeypatch.chdir(tmp_path)
    argv = ["--quick", "--repeats", "1", "--compile-backend", "eager"]
    assert main(["bench", "compile", *argv]) == 0
    assert list(tmp_path.iterdir()) == []  # no --out: printed only
    assert "| auto | compiled |" in capsys.readouterr().out
    assert main(["bench", "compile", *argv, "--out", "res"]) == 0
    result = json.loads((tmp_path / "res" / "compile_cpu.json").read_text())
    assert [(r["backend"], r["mode"]) for r in result["rows"]] == [
        ("auto", "eager"),
        ("auto", "compiled"),
    ]
    assert all(r["kernel_calls_per_step"] == 4 for r in result["rows"])
    assert result["first_step_max_difference"]["auto"] < 1e-5
    assert result["command"] == "spikeforge bench compile " + " ".join([*argv, "--out", "res"])
    assert result["machine"]["loadavg_end"] and result["settings"]["repeats"] == 1
    assert "| auto | eager |" in (tmp_path / "res" / "compile_cpu.md").read_text()
