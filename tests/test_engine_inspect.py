import json

import pytest
import torch

from spikeforge.cli import main
from spikeforge.data import sample_indices
from spikeforge.engine.config import load_config
from spikeforge.engine.inspect import checkpoint_energy, trainer_from_checkpoint, write_run_report
from spikeforge.engine.run import train
from spikeforge.neurons.base import SpikingNeuron


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


def test_energy_reports_the_accuracy_of_its_samples_with_the_runs_decoder(tmp_path, capsys):
    overrides = ["train.epochs=1", "train.max_steps=3", "train.progress=false",
                 f"train.run_dir={tmp_path}", "train.run_name=s", "model.kwargs.readout=spiking",
                 "train.objective=ce_temporal", "model.decoder=first_spike"]  # fmt: skip
    train(load_config(None, overrides))
    checkpoint = tmp_path / "s" / "last.pt"
    report = checkpoint_energy(checkpoint, samples=32)
    data = report.to_dict()
    assert data["decoder"] == "first_spike" and data["samples"] == 32
    assert 0.0 <= data["accuracy"] <= 1.0 and data["snn_pj"] > 0
    # The same 32 samples, scored by the trainer's evaluation with the same decoder.
    trainer = trainer_from_checkpoint(checkpoint)
    indices = sample_indices(len(trainer.test_set), 32)
    subset = torch.utils.data.Subset(trainer.test_set, indices.tolist())
    assert trainer.evaluate(subset)["accuracy"] == data["accuracy"]
    assert "(decoder: first_spike)" in report.table()
    assert main(["energy", "--checkpoint", str(checkpoint), "--samples", "8"]) == 0
    assert "on these 8 test samples (decoder: first_spike)" in capsys.readouterr().out


def test_report_is_written_for_a_run(run_dir, capsys):
    out = write_run_report(run_dir)
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "csnn_tiny" in html
    assert main(["report", str(run_dir)]) == 0
    with pytest.raises(FileNotFoundError, match="holds no run"):
        write_run_report(run_dir.parent / "nothing")


def test_a_layer_has_one_name_in_eval_energy_and_report(run_dir, tmp_path, capsys):
    """The zoo model's spiking layers are named by their qualified module name in eval's
    JSON, the energy table (the layer feeding each accumulate op) and the report."""
    checkpoint = run_dir / "last.pt"
    model = trainer_from_checkpoint(checkpoint).model
    modules = dict(model.named_modules())
    assert main(["eval", "--checkpoint", str(checkpoint), "--json", str(tmp_path / "e.json")]) == 0
    rates = json.loads((tmp_path / "e.json").read_text())["firing_rates"]
    assert rates and set(rates) <= set(modules)
    assert all(isinstance(modules[name], SpikingNeuron) for name in rates)

    energy = checkpoint_energy(checkpoint, samples=32)
    rows = energy.to_dict()["layers"]
    assert {row["layer"] for row in rows} <= set(modules)  # op sites: qualified names too
    fed = [name for row in rows if row["kind"] == "AC" for name in row["inputs"]]
    assert fed and set(fed) <= set(rates)  # every accumulate names a layer eval reports
    table = energy.table().splitlines()
    for row in rows:  # the table shows the same names in its layer and inputs columns
        shown = next(line.split() for line in table if line.startswith(row["layer"] + " "))
        assert shown[3] == (", ".join(row["inputs"]) or "-")

    html = write_run_report(run_dir, tmp_path / "report.html").read_text()
    firing, energy_html = html.split("<h2>Energy per inference</h2>")
    for name in fed:
        assert f"<td>{name}</td>" in firing.split("<h2>Firing rates</h2>")[1]
        assert f"<td>{name}</td>" in energy_html.split("<h2>")[0]


def test_energy_of_an_ann_checkpoint_says_what_applies(digits_ann_checkpoint, capsys):
    report = checkpoint_energy(digits_ann_checkpoint, samples=16)
    assert not report.spiking and report.steps == 1
    assert report.ratio == pytest.approx(1.0) and report.spikingbert_ratio is None
    assert main(["energy", "--checkpoint", str(digits_ann_checkpoint), "--samples", "16"]) == 0
    out = capsys.readouterr().out
    assert "infx" not in out and "no spike-driven (AC) operation: an ANN" in out
