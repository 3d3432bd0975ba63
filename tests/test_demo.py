from spikeforge.cli import main
from spikeforge.demo import demo_config, format_result, run_demo


def test_demo_reaches_high_accuracy_on_digits(tmp_path):
    # The full demo (15 epochs) is the README's main job; 6 epochs already exceed 0.95.
    result = run_demo([f"train.run_dir={tmp_path}", "train.epochs=6", "train.progress=false"])
    assert result["test_acc"] >= 0.95
    assert set(result["firing_rates"]) == {"1", "3"}
    assert all(0.0 < r < 1.0 for r in result["firing_rates"].values())
    assert "digits test accuracy" in format_result(result)


def test_demo_config_matches_committed_yaml():
    from pathlib import Path

    from spikeforge.engine.config import load_config

    committed = load_config(Path(__file__).parents[1] / "configs" / "digits_csnn.yaml")
    ours = demo_config()
    ours.train.run_name = committed.train.run_name
    assert ours == committed


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
