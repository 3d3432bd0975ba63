import json
from pathlib import Path

import pytest
import torch

from spikeforge.cli import main
from spikeforge.data import sample_indices
from spikeforge.engine.config import load_config
from spikeforge.engine.run import train
from spikeforge.methods.conversion import convert
from spikeforge.methods.conversion.cli_support import accuracy_vs_timesteps, run_conversion
from spikeforge.methods.hybrid import load_ann

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


pytestmark = pytest.mark.usefixtures("one_thread")


def test_one_long_run_gives_every_shorter_t(digits_ann_checkpoint):
    ann, _, train_set, test_set = load_ann(digits_ann_checkpoint)
    calibration = torch.stack([train_set[i][0] for i in range(128)])
    snn = convert(ann, calibration, "max")
    result = accuracy_vs_timesteps(snn, test_set, (3, 8), batch_size=50, chunk=3, limit=120)
    chosen = [int(i) for i in sample_indices(len(test_set), 120)]  # the subset `limit` takes
    x = torch.stack([test_set[i][0] for i in chosen])
    y = torch.as_tensor([test_set[i][1] for i in chosen])
    for steps in (3, 8):
        out = snn(x.expand(steps, *x.shape))
        accuracy = float((out.mean(0).argmax(-1) == y).float().mean())
        assert result[steps]["accuracy"] == pytest.approx(accuracy)
        rates: list[torch.Tensor] = []

        def record(module, inputs, output, store=rates):
            store.append(output.ne(0).float())

        hooks = [n.register_forward_hook(record) for n in snn.neurons().values()]
        snn(x.expand(steps, *x.shape))
        for hook in hooks:
            hook.remove()
        expected = sum(float(r.sum()) for r in rates) / sum(r.numel() for r in rates)
        assert result[steps]["firing_rate"] == pytest.approx(expected)


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
    train(load_config(CONFIGS / "digits_csnn.yaml", overrides))
    assert main(["convert", "--checkpoint", str(tmp_path / "snn" / "last.pt")]) == 2
    assert "train.method=ann" in capsys.readouterr().err
    with pytest.raises(ValueError, match="positive ints"):
        run_conversion(tmp_path / "snn" / "last.pt", ())
