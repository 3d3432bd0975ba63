import pytest

from spikeforge.cli import main
from spikeforge.engine.config import load_config
from spikeforge.engine.inspect import checkpoint_energy, write_run_report
from spikeforge.engine.run import train


@pytest.fixture
def run_dir(tmp_path):
    config = load_config(
        None,
        ["train.epochs=1", "train.progress=false", f"train.run_dir={tmp_path}", "train.run_name=r"],
    )
    train(config)
    return tmp_path / "r"


def test_energy_of_a_trained_checkpoint(run_dir, capsys):
    report = checkpoint_energy(run_dir / "last.pt", samples=64)
    data = report.to_dict()
    assert data["snn_pj"] > 0 and data["ann_pj"] > 0
    # The first conv sees analog pixels (MACs); the second sees spikes (ACs).
    kinds = [row["kind"] for row in data["layers"]]
    assert kinds[0] == "MAC" and "AC" in kinds
    assert main(["energy", "--checkpoint", str(run_dir / "last.pt"), "--samples", "32"]) == 0
    assert "total" in capsys.readouterr().out


def test_report_is_written_for_a_run(run_dir, capsys):
    out = write_run_report(run_dir)
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "csnn_tiny" in html
    assert main(["report", str(run_dir)]) == 0
    with pytest.raises(FileNotFoundError, match="holds no run"):
        write_run_report(run_dir.parent / "nothing")
