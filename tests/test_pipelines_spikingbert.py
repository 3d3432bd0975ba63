"""The SpikingBERT pipeline: its config checks, its table, and a tiny run end to end
(stages, resume, refusal of other settings) through the library and the CLI."""

import json

import pytest

from spikeforge.cli import main
from spikeforge.pipelines import PIPELINES
from spikeforge.pipelines.spikingbert import claims, format_table, load_config, run_spikingbert
from sst2_runs import TINY, needs_sst2

pytestmark = [pytest.mark.usefixtures("one_thread"), needs_sst2]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, one_thread):
    run_dir = tmp_path_factory.mktemp("spikingbert") / "run"
    return run_dir, run_spikingbert(run_dir=run_dir, overrides=TINY, log=None)


def test_config_is_checked():
    config = load_config("sst2")
    assert config.student_model.t_conv == 16 and config.teacher_model.layers == 6
    assert load_config("sst2", quick=True).data.train_samples == 6000
    with pytest.raises(ValueError, match="multiple of"):
        load_config("sst2", overrides=["teacher_model.layers=5"])
    with pytest.raises(ValueError, match="unknown variants"):
        load_config("sst2", overrides=["only=[nope]"])
    with pytest.raises(ValueError, match="epochs"):
        load_config("sst2", overrides=["scratch.epochs=0"])
    with pytest.raises(ValueError, match="stop_after"):
        run_spikingbert(stop_after="students")
    assert "spikingbert" in PIPELINES.names()


def test_tiny_run_has_every_row_stage_and_output(tiny_run):
    run_dir, result = tiny_run
    assert result["status"] == "complete"
    rows = {r["row"]: r for r in result["rows"]}
    assert result["rows"][0]["row"].startswith("teacher ANN")
    assert {
        "spiking student, no teacher",
        "+ prediction-layer KD only",
        "+ internal-layer and prediction KD (full recipe)",
    } <= set(rows)
    for row in result["rows"][1:]:
        assert 0 <= row["accuracy"] <= 1 and 0 < row["firing_rate"] < 1
        assert row["energy_ratio"] > 0 and row["t_conv"] == 4
    assert [r["t_conv"] for r in result["sweep"]] == [2, 4]
    # the sweep at the students' own T_conv repeats the full recipe's evaluation
    full = rows["+ internal-layer and prediction KD (full recipe)"]
    assert result["sweep"][1]["accuracy"] == full["accuracy"]
    for stage in (
        "teacher",
        "students/scratch/seed0",
        "students/internal_kd/seed0",
        "students/full/seed0",
        "sweep/seed0",
    ):
        assert (run_dir / stage / "result.json").is_file(), stage
    assert (run_dir / "students/full/seed0/last.pt").is_file()
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["rows"][0]["accuracy"] == result["rows"][0]["accuracy"]
    assert "T_conv=2" in (run_dir / "results.md").read_text()
    assert (run_dir / "report.html").is_file()
    assert "full recipe" in format_table(result) and result["claims"]


def test_rerun_skips_finished_stages_and_refuses_other_settings(tiny_run):
    run_dir, result = tiny_run
    lines = []
    again = run_spikingbert(run_dir=run_dir, overrides=TINY, log=lines.append)
    assert sum("done already" in line for line in lines) == 6
    assert again["rows"] == result["rows"]
    with pytest.raises(ValueError, match="other settings"):
        run_spikingbert(run_dir=run_dir, overrides=[*TINY, "teacher.lr=0.01"], log=None)


@pytest.mark.slow
def test_an_interrupted_stage_resumes_at_its_epoch_and_ends_bit_identical(tmp_path, monkeypatch):
    import torch

    import spikeforge.pipelines.spikingbert_stage as module

    args = [*TINY, "only=[scratch]", "scratch.epochs=2"]
    whole = run_spikingbert(run_dir=tmp_path / "whole", overrides=args, log=None)
    real, calls = module.train_epoch, []

    def stop_in_epoch_two(*a, **k):
        calls.append(1)
        if len(calls) == 3:  # teacher epoch 1, student epoch 1, then the student's 2nd
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(module, "train_epoch", stop_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        run_spikingbert(run_dir=tmp_path / "cut", overrides=args, log=None)
    stage = tmp_path / "cut/students/scratch/seed0"
    assert torch.load(stage / "last.pt", weights_only=True)["epoch"] == 1
    assert not (stage / "result.json").exists()
    monkeypatch.setattr(module, "train_epoch", real)
    lines = []
    resumed = run_spikingbert(run_dir=tmp_path / "cut", overrides=args, log=lines.append)
    assert any("resuming after epoch 1" in line for line in lines)
    assert resumed["rows"][1]["accuracy"] == whole["rows"][1]["accuracy"]
    a = torch.load(tmp_path / "whole/students/scratch/seed0/model.pt", weights_only=True)
    b = torch.load(stage / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_cli_quick_run_end_to_end(tmp_path, capsys):
    code = main(
        [
            "run",
            "spikingbert",
            "--quick",
            "--run-dir",
            str(tmp_path / "q"),
            "--json",
            str(tmp_path / "q.json"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "full recipe" in out and "teacher ANN" in out
    assert json.loads((tmp_path / "q.json").read_text())["status"] == "complete"


def test_cli_tiny_run_end_to_end(tmp_path, capsys):
    args = ["run", "spikingbert", "--run-dir", str(tmp_path / "r"), "--timesteps", "3"]
    assert main([*args, "only=[scratch]", *TINY]) == 0
    out = capsys.readouterr().out
    assert "spiking student, no teacher" in out and "| 3 |" in out  # --timesteps: T_conv


def test_feedback_from_the_config_runs_the_fixed_point_solve(tmp_path):
    args = [*TINY, "only=[scratch]", "student_model.feedback=true", "student_model.pool=cls"]
    result = run_spikingbert(run_dir=tmp_path / "fb", overrides=args, log=None)
    stage = json.loads((tmp_path / "fb/students/scratch/seed0/result.json").read_text())
    assert stage["adjoint_solves"] == 3  # one per training batch (48 phrases / 16)
    assert 0 <= stage["unconverged_solves"] <= 3
    assert result["status"] == "complete"


def test_an_interrupted_teacher_with_dropout_resumes_bit_identical(tmp_path, monkeypatch):
    # the teacher draws dropout masks: resuming must restore the saved RNG, not reseed
    import torch

    import spikeforge.pipelines.spikingbert_stage as module

    args = [*TINY, "only=[scratch]", "teacher.epochs=2"]
    run_spikingbert(run_dir=tmp_path / "whole", overrides=args, stop_after="teacher", log=None)
    real, calls = module.train_epoch, []

    def stop_in_epoch_two(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(module, "train_epoch", stop_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        run_spikingbert(run_dir=tmp_path / "cut", overrides=args, log=None)
    monkeypatch.setattr(module, "train_epoch", real)
    lines = []
    run_spikingbert(
        run_dir=tmp_path / "cut", overrides=args, stop_after="teacher", log=lines.append
    )
    assert any("resuming after epoch 1" in line for line in lines)
    a = torch.load(tmp_path / "whole/teacher/model.pt", weights_only=True)
    b = torch.load(tmp_path / "cut/teacher/model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_claims_by_hand():
    """Full recipe 0.80 ± 0.01 (0.79, 0.80, 0.81) against teacher 0.84: 4 points, within
    5; scratch 0.76 ± 0.02: +4 points, beyond the spread (3); prediction-KD-only 0.79
    ± 0.01: +1 point, within the spread (2)."""

    def runs(*accuracies):
        return [{"accuracy": a} for a in accuracies]

    students = {"full": runs(0.79, 0.80, 0.81), "scratch": runs(0.74, 0.76, 0.78),
                "prediction_kd": runs(0.78, 0.79, 0.80)}  # fmt: skip
    got = claims({"accuracy": 0.84}, students)
    assert got[0] == "full recipe 80.00 % vs teacher 84.00 %: 4.00 points within 5"
    assert got[1] == ("full recipe above the no-teacher student (76.00 %): +4.00 points, "
                      "beyond the seeds' spread (3.00)")  # fmt: skip
    assert got[2] == ("full recipe above the prediction-KD-only student (79.00 %): "
                      "+1.00 points, within the seeds' spread (2.00)")  # fmt: skip
    worse = claims({"accuracy": 0.90}, {"full": runs(0.80), "scratch": runs(0.81)})
    assert "10.00 points NOT within 5" in worse[0] and "NOT above" in worse[1]
    assert worse[1].endswith("-1.00 points, one seed: spread not judged")
    # trailing by more than the spread is said so, not "within" it
    behind = claims(
        {"accuracy": 0.84}, {"full": runs(0.70, 0.71, 0.72), "scratch": students["scratch"]}
    )
    assert behind[1].endswith("NOT above the no-teacher student (76.00 %): -5.00 points, "
                              "below by more than the seeds' spread (3.00)")  # fmt: skip
    assert claims({"accuracy": 0.9}, {"scratch": runs(0.8)}) == []  # no full recipe yet


def test_report_only_is_refused_in_one_line(tmp_path, capsys):
    args = ["run", "spikingbert", "--run-dir", str(tmp_path / "r"), "--report-only", *TINY]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "report_only is not supported by spikingbert" in err and "Traceback" not in err
