"""``spikeforge convert``: a checkpoint's ANN converted and evaluated over T
(engine/convert.py)."""

import json

import pytest
import torch
from torch.utils.data import TensorDataset

from spikeforge.cli import main
from spikeforge.engine.config import load_config
from spikeforge.engine.convert import run_conversion
from spikeforge.engine.run import train

pytestmark = pytest.mark.usefixtures("one_thread")


def test_convert_command_prints_the_table_and_writes_json_and_plot(
    digits_ann_checkpoint, tmp_path, capsys
):
    out_json, out_svg = tmp_path / "c.json", tmp_path / "c.svg"
    code = main(
        [
            "convert",
            "--checkpoint",
            str(digits_ann_checkpoint),
            "--timesteps",
            "4",
            "32",
            "--calibration",
            "max",
            "--test-samples",
            "100",
            "--json",
            str(out_json),
            "--plot",
            str(out_svg),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "ANN accuracy" in text and "smallest T within 1% of the ANN" in text
    result = json.loads(out_json.read_text())
    assert set(result["timesteps"]) == {"4", "32"}
    assert result["test_samples"] == 100
    assert out_svg.read_text().startswith("<svg")
    assert result["timesteps"]["32"]["accuracy"] >= result["ann_accuracy"] - 0.05
    # Energy grows with T (more steps of accumulates); the ANN's is its dense MACs.
    energy = {t: r["energy_uj"] for t, r in result["timesteps"].items()}
    assert 0 < energy["4"] < energy["32"]
    assert result["ann_energy_uj"] > 0 and "energy" in text


def test_convert_refuses_a_spiking_checkpoint(tmp_path, capsys):
    overrides = [
        "train.max_steps=1",
        "train.checkpoint_every=1",
        "train.epochs=1",
        "train.progress=false",
        f"train.run_dir={tmp_path}",
        "train.run_name=snn",
    ]
    train(load_config("digits_csnn", overrides))
    assert main(["convert", "--checkpoint", str(tmp_path / "snn" / "last.pt")]) == 2
    assert "train.method=ann" in capsys.readouterr().err
    with pytest.raises(ValueError, match="positive ints"):
        run_conversion(tmp_path / "snn" / "last.pt", ())


def test_a_dataset_of_another_sample_shape_is_refused_naming_both(
    digits_ann_checkpoint, monkeypatch
):
    # digits (1×8×8) ANN on 28×28 images: global pooling would accept them and report
    # chance-level accuracy as if it were a result.
    def mnist_sized(config):
        images = TensorDataset(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))
        return images, images

    monkeypatch.setattr("spikeforge.engine.convert.build_datasets", mnist_sized)
    with pytest.raises(
        ValueError,
        match=r"dataset 'mnist-small' has samples of shape \[1, 28, 28\].*trained on "
        r"'digits' samples of shape \[1, 8, 8\]",
    ):
        run_conversion(digits_ann_checkpoint, (4,), dataset="mnist-small")
