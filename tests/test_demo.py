import torch

from spikeforge.cli import main
from spikeforge.demo import format_result, run_demo

TINY = ["conversion.timesteps=[4, 8]", "converted.kwargs.calibration_samples=256"]


def test_demo_runs_the_lasnn_pipeline_on_digits(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = run_demo(TINY, epochs=1, run_dir=tmp_path / "demo", log=None)
    finally:
        torch.set_num_threads(threads)
    assert result["status"] == "complete" and result["dataset"] == "digits"
    rows = {r["row"]: r for r in result["rows"]}
    assert rows["teacher ANN"]["accuracy"] > 0.5
    assert "LaSNN (activation attention)" in rows and "+ response KD" in rows
    assert all(0.0 < r["firing_rate"] < 1.0 for r in result["rows"] if r["T"] is not None)
    text = format_result(result)
    assert "LaSNN pipeline on digits" in text and "| teacher ANN |" in text
    html = (tmp_path / "demo" / "report.html").read_text()
    for heading in ("Accuracy vs time steps", "Accuracy vs energy per inference",
                    "Training curves", "Attention maps: teacher vs student",
                    "Per-layer firing rates"):  # fmt: skip
        assert f"<h2>{heading}</h2>" in html  # the demo's report tells the same story


def test_cli_demo_keeps_its_interface(tmp_path, capsys, monkeypatch):
    # `spikeforge demo [overrides] [--json]`: here stopped early through an override
    # that leaves no stage to run (the teacher interrupted after one step).
    monkeypatch.chdir(tmp_path)  # the demo's run directory goes under ./runs
    out = tmp_path / "demo.json"
    args = ["demo", "teacher.train.max_steps=1", "--json", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "pipeline interrupted in stage teacher" in text
    assert '"status": "interrupted"' in out.read_text()


def test_cli_train_and_eval(tmp_path, capsys):
    run = [
        "train.epochs=1",
        "train.progress=false",
        f"train.run_dir={tmp_path}",
        "train.run_name=r",
    ]
    assert main(["train", *run]) == 0
    assert main(["eval", "--checkpoint", str(tmp_path / "r" / "last.pt")]) == 0
    out = capsys.readouterr().out
    assert "final test accuracy" in out and "test accuracy" in out
    assert main(["train", "optim.nope=1"]) == 2
    assert "unknown config key optim.nope" in capsys.readouterr().err
