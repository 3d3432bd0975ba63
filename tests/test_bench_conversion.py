"""``spikeforge bench conversion``: its options, the configs and twin models it relies on,
and the Markdown table it writes (from a hand-made result; the benchmark itself trains
three networks and is not run here)."""

from __future__ import annotations

import pytest

from spikeforge.bench import conversion as bc
from spikeforge.engine.config import load_config
from spikeforge.models import MODELS


def test_help_names_the_options_and_writes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        bc.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for option in ("--dataset", "--timesteps", "--test-samples", "--threads", "--run-dir"):
        assert option in out
    assert "cifar10-small" in out and "mnist-small" in out
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(SystemExit) as exit_:
        bc.main(["--dataset", "imagenet"])
    assert exit_.value.code == 2


@pytest.mark.parametrize("dataset", sorted(bc.CONFIG_STEM))
def test_each_dataset_has_its_configs_and_a_spiking_twin(dataset):
    stem = bc.CONFIG_STEM[dataset]
    ann = load_config(f"{stem}_ann")
    assert ann.train.method == "ann" and ann.data.name == dataset
    assert ann.model.name in bc.SPIKING_TWIN
    assert load_config(f"{stem}_hybrid").model.name == "converted"
    assert load_config("digits_csnn").data.name == "digits"  # the scratch run's base config


def test_every_twin_is_a_registered_model():
    for ann, snn in bc.SPIKING_TWIN.items():
        assert ann in MODELS and snn in MODELS


def _result(smallest: int | None, subset: int | None = None, energy: bool = True) -> dict:
    timesteps = {
        "8": {"accuracy": 0.80, "firing_rate": 0.12, **({"energy_uj": 1.5} if energy else {})},
        "16": {"accuracy": 0.95, "firing_rate": 0.10},
    }
    return {
        "dataset": "digits",
        "machine": {"platform": "Linux-x", "python": "3.12.1", "torch": "2.x", "threads": 1},
        "script": "spikeforge bench conversion --dataset digits",
        "ann": {"model": "ann_csnn_tiny", "epochs": 3, "train_seconds": 4.5, "accuracy": 0.96},
        "conversion": {
            "ann_accuracy": 0.955,
            "test_samples": subset,
            "conversion": {"calibration": "percentile=99.9", "calibration_samples": 1024},
            "timesteps": timesteps,
            "ann_energy_uj": 2.25 if energy else None,
            "smallest_t_within_1pct": smallest,
        },
        "test_subset": subset,
        "hybrid_t4": {"converted_before_fine_tuning": 0.5, "accuracy": 0.9, "epochs": 2,
                      "train_seconds": 3.0},
        "scratch_t4": {"model": "csnn_tiny (IF, soft reset)", "accuracy": 0.85, "epochs": 5,
                       "train_seconds": 6.0},
        "commands": ["spikeforge train --config configs/digits_ann.yaml", "spikeforge convert x"],
    }  # fmt: skip


def test_markdown_rows_gaps_and_verdicts_by_hand():
    text = bc.markdown(_result(16))
    lines = text.splitlines()
    assert lines[0] == "# ANN -> SNN conversion on `digits`"
    assert "Machine: Linux-x, Python 3.12.1, torch 2.x, 1 thread(s)." in text
    assert "Reproduce everything: `spikeforge bench conversion --dataset digits`." in text
    assert "ANN `ann_csnn_tiny` (3 epochs, 4.5 s): **0.9600** test accuracy." in text
    assert "test samples" not in text  # the whole test set
    assert "Conversion: percentile=99.9 on 1024 training images" in text
    # gap = converted - ANN accuracy of the conversion table (0.955)
    assert "| 8 | 0.8000 | -0.1550 | 0.1200 | 1.5 |" in lines
    assert "| 16 | 0.9500 | -0.0050 | 0.1000 | not measured |" in lines
    assert "ANN energy / inference: 2.25 µJ" in text
    assert "Smallest T within 1 % of the ANN: **16**." in text
    assert "| converted, no fine-tuning | 0.5000 | – | – |" in lines
    assert any(line.startswith("| hybrid") and "| 0.9000 | 2 | 3.0 s |" in line for line in lines)
    assert any("csnn_tiny (IF, soft reset) | 0.8500 | 5 | 6.0 s |" in line for line in lines)
    assert "    spikeforge train --config configs/digits_ann.yaml" in lines


def test_markdown_without_a_match_on_a_subset_and_without_energy():
    text = bc.markdown(_result(None, subset=500, energy=False))
    assert "Smallest T within 1 % of the ANN: **none up to max T**." in text
    assert "(conversion table on 500 test samples, a seeded random subset: ANN 0.9550)" in text
    assert "ANN energy / inference" not in text
    assert "| 8 | 0.8000 | -0.1550 | 0.1200 | not measured |" in text.splitlines()
