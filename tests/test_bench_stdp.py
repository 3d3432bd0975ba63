"""``spikeforge bench stdp``: its options, the comparison it reports, and one tiny run of
all three variants writing the JSON and Markdown (the committed results are not re-run)."""

from __future__ import annotations

import json

import pytest

from spikeforge.bench import stdp as bs
from spikeforge.cli import BENCHMARKS
from spikeforge.engine.config import load_config


def test_help_names_the_options_and_writes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        bs.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for option in ("--dataset", "--seeds", "--threads", "--run-dir", "--set", "--out"):
        assert option in out
    assert "runs/bench/stdp" in out
    assert list(tmp_path.iterdir()) == []
    assert BENCHMARKS["stdp"] == "spikeforge.bench.stdp"


def test_the_configs_train_stdp_wta_and_the_variants_change_only_the_learning():
    for dataset, name in bs.CONFIGS.items():
        config = load_config(name)
        assert config.data.name == dataset and config.model.name == "stdp_wta"
        assert config.train.method == "stdp" and config.data.encoder == "poisson"
    rows = bs.variants(6)
    assert rows["STDP"] == []
    assert "train.method_options.learn=false" in rows["random (untrained)"]
    assert "train.epochs=6" in rows["homeostasis only"]


def test_beating_by_more_than_the_spread():
    c = bs.comparison([0.9, 0.92, 0.91], [0.5, 0.6, 0.55])
    assert c["beats_by_more_than_spread"] and c["mean_difference"] == pytest.approx(0.36)
    assert c["per_seed_difference"] == pytest.approx([0.4, 0.32, 0.36])
    assert not bs.comparison([0.9, 0.5, 0.7], [0.6, 0.6, 0.6])["beats_by_more_than_spread"]
    # a mean gap above the spread, but the worst STDP seed is below the best random one
    assert not bs.comparison([0.8, 0.8, 0.61], [0.5, 0.5, 0.62])["beats_by_more_than_spread"]


def test_a_tiny_run_writes_json_and_markdown(tmp_path, one_thread):
    tiny = ["model.kwargs.neurons=10", "data.timesteps=6", "train.epochs=2"]
    argv = ["--seeds", "1", "--out", str(tmp_path / "out"), "--run-dir", str(tmp_path / "runs")]
    assert bs.main([*argv, *(f"--set={o}" for o in tiny)]) == 0
    result = json.loads((tmp_path / "out" / "stdp_digits.json").read_text())
    assert [r["variant"] for r in result["rows"]] == list(bs.variants(2))
    assert all(len(r["accs"]) == 1 and 0 <= r["mean"] <= 1 for r in result["rows"])
    assert result["meta"]["command"].startswith("spikeforge bench stdp --dataset digits")
    assert "--set=data.timesteps=6" in result["meta"]["command"]
    assert result["settings"]["neurons"] == 10 and result["settings"]["epochs"] == 2
    text = (tmp_path / "out" / "stdp_digits.md").read_text()
    assert "| STDP |" in text and "| random (untrained) |" in text and "shared 2-core" in text
