"""``pipelines/mae.py``: ``spikeforge run mae`` — masked pretraining, then fine-tuning from
the pretrained encoder vs scratch vs Spikformer v1, resumable stage by stage."""

from __future__ import annotations

import json
import re

import pytest
import torch

from spikeforge.cli import main
from spikeforge.engine.build import build_datasets, build_model
from spikeforge.engine.checkpoint import load_checkpoint
from spikeforge.engine.config import load_config as load_engine_config
from spikeforge.pipelines import PIPELINES
from spikeforge.pipelines.mae import claims, format_table, load_config, run_mae

# digits with big batches and a small test split: every stage is a few steps
TINY = [
    "base.data.batch_size=256",
    "base.data.options={test_size: 0.05}",
    "energy_samples=8",
    "report_images=2",
]


def test_mae_is_registered_and_the_shipped_configs_load():
    pipeline = PIPELINES.get("mae")
    assert pipeline.run is run_mae and pipeline.stages == ("pretrain", "finetune")
    full = load_config("cifar10-small")
    assert full.timesteps == [1, 4] and full.seeds == 3
    assert full.pretrain["data"]["timesteps"] == 1 and full.pretrain["train"]["method"] == "mae"
    assert full.pretrain["model"]["kwargs"]["mask_ratio"] == 0.75
    assert {v.init for v in full.variants.values()} == {"pretrained", "scratch"}
    assert full.variants["v1"].config["model"]["name"] == "spikformer"
    quick = load_config("cifar10-small", quick=True)
    assert quick.timesteps == [1] and quick.seeds == 1
    assert quick.pretrain["train"]["epochs"] == 1 and quick.finetune["train"]["epochs"] == 1
    assert load_config("digits").base["data"]["name"] == "digits"


def test_bad_settings_are_refused_before_anything_trains(tmp_path):
    with pytest.raises(ValueError, match="variants.pretrained.init must be one of"):
        load_config("digits", overrides=["variants.pretrained.init=imagenet"])
    with pytest.raises(ValueError, match="timesteps must be a non-empty list of T >= 1"):
        load_config("digits", overrides=["timesteps=[0]"])
    with pytest.raises(ValueError, match="only names unknown variants"):
        load_config("digits", overrides=["only=[nope]"])
    with pytest.raises(ValueError, match="stop_after must be 'pretrain'"):
        run_mae("digits", stop_after="finetune", run_dir=tmp_path)
    with pytest.raises(ValueError, match="seeds must be >= 1"):
        run_mae("digits", seeds=0, run_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_the_verdict_needs_a_gain_beyond_the_seeds_spread():
    def row(variant, init, steps, accuracy, std, seeds=3):
        return {"row": variant, "variant": variant, "init": init, "T": steps,
                "accuracy": accuracy, "accuracy_std": std, "seeds": seeds,
                "firing_rate": 0.1, "energy_uj": 1.0}  # fmt: skip

    rows = [
        row("pretrained", "pretrained", 1, 0.60, 0.01),
        row("scratch", "scratch", 1, 0.55, 0.01),
        row("v1", "scratch", 1, 0.70, 0.0),  # only the first scratch row is compared
        row("pretrained", "pretrained", 4, 0.60, 0.03),
        row("scratch", "scratch", 4, 0.57, 0.02),
    ]
    verdicts = claims(rows)
    assert verdicts["1"]["gain"] == pytest.approx(0.05) and verdicts["1"]["spread"] == 0.02
    assert verdicts["1"]["beats_scratch_beyond_spread"] is True
    assert verdicts["4"]["beats_scratch_beyond_spread"] is False  # 0.03 < 0.05
    one = claims([row("p", "pretrained", 1, 0.6, 0.0, 1), row("s", "scratch", 1, 0.5, 0.0, 1)])
    assert one["1"]["beats_scratch_beyond_spread"] is None  # one seed: no spread to judge
    # either row with one seed: not judged (its std of 0 would make any gain "beyond")
    half = claims([row("p", "pretrained", 4, 0.6, 0.001, 2), row("s", "scratch", 4, 0.5, 0.0, 1)])
    assert half["4"]["beats_scratch_beyond_spread"] is None
    text = format_table({"rows": rows, "claims": verdicts})
    assert "| pretrained | pretrained | 1 | 0.6000 ± 0.0100 | 0.1000 | 1.000 | - | 3 |" in text
    assert "T=4: pretrained does NOT beat scratch" in text
    rows[0]["train_seconds"] = 1215.4
    pretrain = {"train_seconds": 3378.5, "reconstruction_loss": 0.68}
    text = format_table({"rows": rows, "claims": verdicts, "pretrain": pretrain})
    assert "| 1.000 | 1215 | 3 |" in text  # the wall seconds of the fine-tuning
    assert "masked pretraining: 3378 s, test reconstruction loss 0.6800" in text


def test_the_pretraining_curve_shows_the_losses_each_epoch_has():
    from spikeforge.pipelines.mae import pretraining_curve

    history = [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.8, "test_loss": 0.9}]
    (spec,) = pretraining_curve(history)
    assert spec["kind"] == "lines" and spec["section"] == "Masked pretraining"
    assert spec["panels"][0]["series"] == {"train": [[1, 2], [1.0, 0.8]], "test": [[2], [0.9]]}
    assert pretraining_curve([]) == []


def test_pretrained_finetuning_runs_resumes_and_refuses_other_settings(tmp_path, one_thread):
    # one variant, T = 1, one epoch each: the fast unit-level run of the two stages
    run_dir = tmp_path / "run"
    lines: list[str] = []
    result = run_mae(
        "digits",
        overrides=[*TINY, "only=[pretrained]"],
        run_dir=run_dir,
        quick=True,
        log=lines.append,
    )
    args = dict(run_dir=run_dir, quick=True, log=None)
    # pretraining has no accuracy: its log line and result say its loss, never "nan"
    assert any(line.startswith("[mae pretrain] test loss ") for line in lines)
    assert not any("nan" in line for line in lines)
    pretrain = json.loads((run_dir / "pretrain" / "result.json").read_text())
    assert pretrain["accuracy"] is None and pretrain["reconstruction_loss"] > 0
    assert result["status"] == "complete" and [r["variant"] for r in result["rows"]] == [
        "pretrained"
    ]
    stage = run_dir / "pretrained" / "T1" / "seed0"
    assert "{run}/pretrain/last.pt" in (stage / "stage.yaml").read_text()
    finetuned = load_checkpoint(stage / "last.pt")["model"]
    assert finetuned and not any("decoder" in k for k in finetuned)  # decoder dropped
    pretrained = load_checkpoint(run_dir / "pretrain" / "last.pt")["model"]
    assert any(k.startswith("decoder.") for k in pretrained)
    assert {k for k in finetuned if not k.startswith("head.")} == {
        k.removeprefix("encoder.") for k in pretrained if k.startswith("encoder.")
    }
    report = (run_dir / "pretrain" / "report.html").read_text()
    assert "data:image/png;base64," in report and "<svg" in report
    assert (run_dir / "pretrain" / "reconstructions.png").is_file()
    # the pipeline's report: the pretraining's loss curve (train and test) and a link
    report = (run_dir / "report.html").read_text()
    assert "<h2>Masked pretraining</h2>" in report and "pretrain/report.html" in report
    assert 'data-figure="pretraining_loss/0"' in report
    assert re.findall(r"<text[^>]*>(train|test)</text>", report) == ["train", "test"]
    row = result["rows"][0]
    assert row["energy_uj"] > 0 and row["T"] == 1 and 0 <= row["accuracy"] <= 1
    # resume: every stage finished -> skipped without touching a byte
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}
    again = run_mae("digits", overrides=[*TINY, "only=[pretrained]"], **args)
    assert again["rows"][0]["accuracy"] == row["accuracy"]
    assert all(p.stat().st_mtime_ns == t for p, t in before.items() if p.parent != run_dir)
    with pytest.raises(ValueError, match="was run with other settings"):
        run_mae("digits", overrides=[*TINY, "only=[pretrained]", "pretrain.optim.lr=0.1"], **args)
    # the fine-tune config's model.kwargs.pretrained is what loads the pretrained encoder
    checkpoint = run_dir / "pretrain" / "last.pt"
    config = load_engine_config(
        None, ["model.name=spikformer_v2_tiny", f"model.kwargs.pretrained={checkpoint}"]
    )
    torch.manual_seed(0)
    model = build_model(config, build_datasets(config)[0])
    for key, value in model.state_dict().items():
        if not key.startswith("head."):
            assert torch.equal(value, pretrained[f"encoder.{key}"]), key


@pytest.mark.slow
def test_cli_runs_every_variant_end_to_end_and_resumes(tmp_path, capsys):
    run_dir, out = tmp_path / "run", tmp_path / "out.json"
    args = ["run", "mae", "--dataset", "digits", "--quick", "--run-dir", str(run_dir), *TINY]
    assert main([*args, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Spikformer v1 from scratch" in printed and "T=1: pretrained" in printed
    result = json.loads(out.read_text())
    assert [r["variant"] for r in result["rows"]] == ["pretrained", "scratch", "v1"]
    assert {"results.json", "results.md", "report.html"} <= {p.name for p in run_dir.iterdir()}
    assert main(args) == 0
    assert capsys.readouterr().out.count("done already; skipped") == 4
