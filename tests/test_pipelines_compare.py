"""``pipelines/compare.py``: ``spikeforge run compare`` — a config's variants trained side by
side over seeds, resumable stage by stage, one table."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from spikeforge.cli import main
from spikeforge.pipelines import PIPELINES
from spikeforge.pipelines.compare import ComparePipeline, format_table, load_config, run_compare

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = {
    "pipeline": "compare",
    "seeds": 2,
    "energy_samples": 16,
    "base": {
        "data": {"name": "digits", "batch_size": 256, "options": {"test_size": 0.05}},
        "train": {"epochs": 1, "progress": False, "tensorboard": False},
    },
    "variants": {
        "lif": {"label": "csnn_tiny, LIF", "config": {"model": {"name": "csnn_tiny"}}},
        "if": {"config": {"model": {"name": "csnn_tiny", "neuron": "if"}}},
    },
}


@pytest.fixture(scope="module")
def config_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "tiny_compare.yaml"
    path.write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def tiny_run(config_path, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    lines: list[str] = []
    result = run_compare(config=config_path, run_dir=run_dir, log=lines.append)
    return result, run_dir, lines


def test_every_variant_and_seed_trains_into_one_row_per_variant(tiny_run):
    result, run_dir, lines = tiny_run
    assert result["status"] == "complete"
    assert [r["variant"] for r in result["rows"]] == ["lif", "if"]
    assert [r["row"] for r in result["rows"]] == ["csnn_tiny, LIF", "if"]  # label or name
    # seeds outer: both rows have their first seed before either has its second
    order = [line.split("] ")[0].split()[-1] for line in lines if "training" in line]
    assert order == ["lif/seed0", "if/seed0", "lif/seed1", "if/seed1"]
    for row in result["rows"]:
        stages = [json.loads((run_dir / row["variant"] / f"seed{s}" / "result.json").read_text())
                  for s in (0, 1)]  # fmt: skip
        assert row["accuracies"] == [s["accuracy"] for s in stages]
        assert row["seeds"] == 2 and row["T"] == 4
        assert row["accuracy"] == pytest.approx(sum(row["accuracies"]) / 2)
        assert row["parameters"] == stages[0]["parameters"] > 0
        assert 0 < row["firing_rate"] < 1 and row["energy_uj"] > 0
    lif, if_ = result["rows"]
    assert lif["accuracies"] != if_["accuracies"]  # the variants really differ


def test_outputs_and_the_table_name_every_row_and_seed(tiny_run):
    result, run_dir, _ = tiny_run
    table = (run_dir / "results.md").read_text()
    assert table.strip() == format_table(result)
    for row in result["rows"]:
        assert row["row"] in table
        assert " / ".join(f"{a:.4f}" for a in row["accuracies"]) in table
    assert json.loads((run_dir / "results.json").read_text())["rows"] == result["rows"]
    assert "comparison" in (run_dir / "report.html").read_text()


def test_a_rerun_skips_every_stage_and_gives_the_same_table(tiny_run, config_path):
    result, run_dir, _ = tiny_run
    lines: list[str] = []
    again = run_compare(config=config_path, run_dir=run_dir, log=lines.append)
    assert sum("done already; skipped" in line for line in lines) == 4
    assert again["rows"] == result["rows"]


def test_an_interrupted_stage_resumes_where_it_stopped(config_path, tmp_path):
    run_dir = tmp_path / "run"
    stopped = run_compare(
        config=config_path, run_dir=run_dir, overrides=["base.train.max_steps=2"], log=None
    )
    assert stopped["status"] == "interrupted" and stopped["stage"] == "lif/seed0"
    assert (
        torch.load(run_dir / "lif" / "seed0" / "last.pt", weights_only=False)["position"]["step"]
        == 2
    )
    lines: list[str] = []
    done = run_compare(config=config_path, run_dir=run_dir, overrides=["only=[lif]", "seeds=1"],
                       log=lines.append)  # fmt: skip
    assert done["status"] == "complete" and [r["variant"] for r in done["rows"]] == ["lif"]
    assert any("lif/seed0] resuming" in line for line in lines)


def test_config_errors_are_named(config_path, tmp_path):
    with pytest.raises(ValueError, match="only names unknown variants"):
        load_config(path=config_path, overrides=["only=[nope]"])
    with pytest.raises(ValueError, match="variants.lif.config"):
        load_config(path=config_path, overrides=["variants.lif.config.train.epochs=-1"])
    empty = tmp_path / "empty.yaml"
    empty.write_text(yaml.safe_dump({**CONFIG, "variants": {}}))
    with pytest.raises(ValueError, match="needs at least one entry under variants"):
        load_config(path=empty)
    with pytest.raises(ValueError, match="stop_after must be None"):
        run_compare(config=config_path, run_dir=tmp_path, stop_after="x", log=None)


def test_shipped_trevsnn_configs_build_every_stage(tmp_path):
    """The T-RevSNN comparison of issue #15: three rows, three seeds, on digits and on
    cifar10-small (augmented there), every stage's engine config checked up front."""
    assert PIPELINES.get("compare").run is run_compare
    for name, dataset in (("compare_trevsnn_digits", "digits"),
                          ("compare_trevsnn_cifar10_small", "cifar10-small")):  # fmt: skip
        config = load_config(path=name, run_dir=tmp_path / name)
        stages = ComparePipeline(config, lambda _: None).stages
        assert len(stages) == 9
        reversible = stages["trevsnn_reversible", 0]
        assert reversible.data.name == dataset and reversible.train.objective == "trevsnn"
        assert reversible.model.kwargs["reversible"] is True
        assert stages["trevsnn_bptt", 1].model.kwargs["reversible"] is False
        sew = stages["sew_resnet18", 2]
        assert sew.model.kwargs == {"base_width": 22, "connect": "add"}
        assert sew.train.seed == 2 and sew.train.epochs == 15
        assert sew.data.augment.flip is (dataset == "cifar10-small")
        # cifar10-small: the test set every 5th epoch and the last (15 stages' evaluations
        # of 10,000 images would be ~20 % of the run)
        assert sew.train.eval_every == (5 if dataset == "cifar10-small" else 1)


def test_cli_runs_a_comparison_and_prints_the_table(config_path, tmp_path, capsys):
    run_dir = tmp_path / "cli"
    args = ["run", "compare", "--config", str(config_path), "--run-dir", str(run_dir)]
    assert main([*args, "--seeds", "1", "only=[if]"]) == 0
    out = capsys.readouterr().out
    assert "| if | 4 |" in out and f"results, report.html in {run_dir}" in out


def test_eval_every_through_the_cli_leaves_untested_epochs_out_of_the_history(
    config_path, tmp_path, capsys
):
    run_dir = tmp_path / "sparse"
    args = ["run", "compare", "--config", str(config_path), "--run-dir", str(run_dir)]
    assert main([*args, "--seeds", "1", "only=[if]", "base.train.epochs=3",
                 "base.train.eval_every=2"]) == 0  # fmt: skip
    assert "| if | 4 |" in capsys.readouterr().out
    result = json.loads((run_dir / "if" / "seed0" / "result.json").read_text())
    tested = {r["epoch"]: r["test_acc"] is not None for r in result["history"]}
    assert tested == {1: False, 2: True, 3: True}
    assert result["accuracy"] == result["history"][-1]["test_acc"]


def test_a_stage_is_evaluated_once_per_epoch_and_reports_its_last_evaluation(
    config_path, tmp_path, monkeypatch
):
    from spikeforge.engine.trainer import Trainer

    calls = []
    real = Trainer.evaluate

    def counted(self, dataset):
        calls.append(self.position.epoch)
        return real(self, dataset)

    monkeypatch.setattr(Trainer, "evaluate", counted)
    run_dir = tmp_path / "once"
    run_compare(config=config_path, run_dir=run_dir, log=None,
                overrides=["only=[if]", "seeds=1", "base.train.epochs=2"])  # fmt: skip
    assert calls == [0, 1]  # after each epoch; none again for the result
    result = json.loads((run_dir / "if" / "seed0" / "result.json").read_text())
    last = result["history"][-1]
    assert result["accuracy"] == last["test_acc"] and result["epochs"] == last["epoch"] == 2
    # the firing rates are the last evaluation's, as a fresh one gives them
    fresh = make_trainer_for(run_dir / "if" / "seed0")
    assert result["layer_firing_rates"] == real(fresh, fresh.test_set)["firing_rates"]
    assert result["accuracy"] == real(fresh, fresh.test_set)["accuracy"]


def make_trainer_for(stage_dir):
    """The stage's trainer rebuilt from its saved config and restored from last.pt."""
    import yaml as _yaml

    from spikeforge.engine.config import config_from_dict
    from spikeforge.engine.run import make_trainer

    config = config_from_dict(_yaml.safe_load((stage_dir / "config.yaml").read_text()))
    trainer = make_trainer(config, stage_dir)
    trainer.restore(stage_dir / "last.pt")
    return trainer


def test_cli_timesteps_sets_the_data_and_the_columns_of_trevsnn(tmp_path, capsys):
    """``--timesteps 2`` on the shipped T-RevSNN comparison: the data's T and the model's
    own T (its columns) both follow, so the row trains and reports T = 2."""
    run_dir = tmp_path / "t2"
    args = ["run", "compare", "--config", "compare_trevsnn_digits", "--run-dir", str(run_dir),
            "--timesteps", "2", "--seeds", "1", "only=[trevsnn_bptt]", "energy_samples=8",
            "base.train.epochs=1", "base.train.progress=false"]  # fmt: skip
    assert main(args) == 0
    assert "| same network, plain BPTT | 2 |" in capsys.readouterr().out
    stage = yaml.safe_load((run_dir / "trevsnn_bptt" / "seed0" / "config.yaml").read_text())
    assert stage["data"]["timesteps"] == 2 and stage["model"]["kwargs"]["timesteps"] == 2
    model = torch.load(run_dir / "trevsnn_bptt" / "seed0" / "last.pt", weights_only=False)
    for part in ("heads", "columns"):  # one per step
        assert {k.split(".")[1] for k in model["model"] if k.startswith(part + ".")} == {"0", "1"}


def test_report_only_tables_the_finished_stages_and_trains_nothing(config_path, tmp_path, capsys):
    run_dir = tmp_path / "partial"
    args = ["run", "compare", "--config", str(config_path), "--run-dir", str(run_dir)]
    assert main([*args, "--seeds", "1", "only=[if]"]) == 0  # one of the two rows
    capsys.readouterr()
    before = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*") if "seed" in str(p))
    assert main([*args, "--seeds", "1", "--report-only"]) == 0
    out = capsys.readouterr().out
    assert "| if | 4 |" in out and "csnn_tiny, LIF" not in out
    assert f"partial: 1 stage(s) not finished; results, report.html in {run_dir}" in out
    after = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*") if "seed" in str(p))
    assert after == before  # the missing stage got no directory, nothing trained
    result = json.loads((run_dir / "results.json").read_text())
    assert result["status"] == "partial" and result["missing"] == ["lif/seed0"]
    assert (run_dir / "results.md").read_text().startswith("Partial: 1 stage(s) not finished")
    assert "(partial)</title>" in (run_dir / "report.html").read_text()
    assert main([*args, "--seeds", "1"]) == 0  # the full run then trains the rest
    result = json.loads((run_dir / "results.json").read_text())
    assert result["status"] == "complete" and result["missing"] == []
    assert not (run_dir / "results.md").read_text().startswith("Partial")


def test_a_signal_after_a_stages_last_epoch_stops_the_pipeline_once_its_result_is_saved(
    config_path, tmp_path, capsys, monkeypatch
):
    # it used to land in the stage change (summary, clean-up, the next trainer's set-up),
    # outside every safe point, and be lost: the pipeline ran on
    import os
    import signal

    summary = ComparePipeline.summary

    def signalled(self, trainer, result):
        os.kill(os.getpid(), signal.SIGINT)  # during the first stage's energy summary
        return summary(self, trainer, result)

    monkeypatch.setattr(ComparePipeline, "summary", signalled)
    run_dir = tmp_path / "sig"
    args = ["run", "compare", "--config", str(config_path), "--run-dir", str(run_dir)]
    assert main([*args, "--seeds", "1"]) == 130
    err = capsys.readouterr().err
    assert "interrupted (SIGINT)" in err and "Traceback" not in err
    assert (run_dir / "lif" / "seed0" / "result.json").is_file()  # finished, saved
    assert not (run_dir / "if" / "seed0").exists()  # the next stage never began
    monkeypatch.setattr(ComparePipeline, "summary", summary)
    assert main([*args, "--seeds", "1"]) == 0
    assert "done already; skipped" in capsys.readouterr().out
