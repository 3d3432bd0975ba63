"""``spikeforge bench parallel_accuracy``: its options, and that every neuron row builds
into the dataset's ``spiking_mlp`` and runs the data's number of steps (fixed-T neurons
get that T). The training runs themselves are not repeated here."""

from __future__ import annotations

import pytest
import torch

from spikeforge.bench import parallel_accuracy as bp
from spikeforge.engine.config import load_config
from spikeforge.models import create
from spikeforge.neurons import NEURONS


def test_help_names_the_options_and_writes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        bp.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for option in ("--dataset", "--epochs", "--seeds", "--only", "--run-dir", *bp.CONFIGS):
        assert option in out
    assert list(tmp_path.iterdir()) == []


def test_fixed_length_neurons_get_the_data_steps():
    rows = bp.neurons(28)
    assert next(iter(rows)) == "LIF" and len(rows) == 11
    for label, (name, options) in rows.items():
        assert name in NEURONS, label
        fixed = name in ("psn", "masked_psn", "psu", "ipsu", "rpsu")
        assert (options.get("T") == 28) == fixed, label
    assert bp.neurons(100)["PSN"] == ("psn", {"T": 100})
    # masked PSN: a fixed causal mask, and the paper's progressive masking beside it
    assert rows["masked PSN k=4"][1]["mask_progress"] == 1.0
    progressive = rows["masked PSN k=4 progressive"]
    assert progressive == ("masked_psn", {"T": 28, "k": 4, "mask_schedule": [0.0, 0.125]})
    assert [rows[f"ParaLIF-{m}"][1]["spike_fn"] for m in ("SB", "T", "D")] == ["SB", "T", "D"]


@pytest.mark.parametrize("dataset", sorted(bp.CONFIGS))
def test_every_neuron_runs_in_the_configs_network(dataset):
    config_file, steps = bp.CONFIGS[dataset]
    config = load_config(config_file)
    assert config.model.name == "spiking_mlp" and config.data.name == dataset
    features = config.model.kwargs["in_features"]
    x = torch.rand(steps, 2, features, generator=torch.Generator().manual_seed(0))
    for label, (name, options) in bp.neurons(steps).items():
        # The run's config: the row's options replace the file's neuron_kwargs (fsdd's
        # LIF options, e.g. decay_input, would break every other neuron if merged in).
        row = bp.row_config(config_file, name, options, ["train.epochs=1", "train.seed=2"])
        assert (row.model.neuron, row.model.neuron_kwargs) == (name, options), label
        assert (row.train.epochs, row.train.seed, row.data) == (1, 2, config.data)
        torch.manual_seed(0)
        model = create(
            "spiking_mlp",
            num_classes=10,
            neuron=row.model.neuron,
            neuron_kwargs=row.model.neuron_kwargs,
            **row.model.kwargs,
        )
        out = model(x)
        assert out.shape == (steps, 2, 10) and torch.isfinite(out).all(), label
