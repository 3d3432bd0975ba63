"""``spikeforge bench reference_results``: its options, the configs it trains, the machine
record and the combined table (from hand-made rows; the training runs are not repeated)."""

from __future__ import annotations

import json
import os

import pytest
import torch

from spikeforge.bench import reference_results
from spikeforge.engine.config import load_config


def test_help_lists_the_datasets_and_writes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        reference_results.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--run-dir" in out and all(name in out for name in reference_results.CONFIGS)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", sorted(reference_results.CONFIGS))
def test_every_dataset_names_a_shipped_config_of_that_dataset(name):
    config = load_config(reference_results.CONFIGS[name])
    assert config.data.name == name and config.train.method == "bptt"


def test_the_machine_record():
    machine = reference_results.machine()
    assert machine["cores"] == os.cpu_count() and machine["torch"] == torch.__version__
    assert machine["threads"] == torch.get_num_threads() and machine["cpu"]
    assert len(machine["load_average_at_start"]) == 3


def test_a_bad_argument_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        reference_results.main(["no-such-dataset", "--out", str(out)])
    assert exit_.value.code == 2 and not out.exists()
    assert "unknown dataset" in capsys.readouterr().err


def test_the_reference_table_collects_every_row(tmp_path):
    machine = {"cpu": "cpu", "cores": 2, "torch": "2", "load_average_at_start": [0.5]}
    for name, acc in (("digits", 0.9), ("fsdd", 0.8)):
        row = {"dataset": name, "final_test_acc": acc, "best_test_acc": acc, "epochs": 3,
               "timesteps": 4, "wall_seconds": 12.0, "machine": machine,
               "command": f"spikeforge train --config configs/{name}.yaml"}  # fmt: skip
        (tmp_path / f"reference_{name}.json").write_text(json.dumps(row))
    reference_results.write_table(tmp_path)
    text = (tmp_path / "reference_results.md").read_text()
    assert "| digits | 0.9000 |" in text and "| fsdd | 0.8000 |" in text
    assert "`spikeforge bench reference_results`" in text


def test_the_table_of_an_empty_folder_has_no_rows_and_no_machine(tmp_path):
    reference_results.write_table(tmp_path)
    text = (tmp_path / "reference_results.md").read_text()
    assert text.rstrip().endswith("|---|---|---|---|---|---|---|---|")
    assert "Machine:" not in text
