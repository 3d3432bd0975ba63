"""``spikeforge bench online_training``: its options, that every task and method row names
a valid config and the method it means, and the batch its memory probe trains on (the
training runs themselves are not repeated here)."""

from __future__ import annotations

import pytest
import torch

from spikeforge.bench import online_training as bo
from spikeforge.engine.build import build_datasets
from spikeforge.engine.config import load_config
from spikeforge.engine.method import build_method
from spikeforge.methods import BPTT, DECOLLE, OTTT, SLTT


def test_help_names_the_tasks_and_writes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        bo.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for option in ("--task", "--epochs", "--seeds", "--run-dir", *bo.TASKS):
        assert option in out
    assert list(tmp_path.iterdir()) == []


EXPECTED = {
    "BPTT": (BPTT, "ce_membrane", None),
    "BPTT, per-step CE": (BPTT, "ce_per_step", None),
    "SLTT": (SLTT, "ce_membrane", None),
    "SLTT-2 (k=2)": (SLTT, "ce_membrane", 2),
    "OTTT": (OTTT, "ce_membrane", None),
    "DECOLLE (local losses)": (DECOLLE, "ce_membrane", None),
}


@pytest.mark.parametrize("task", sorted(bo.TASKS))
@pytest.mark.parametrize("label", list(bo.METHODS))
def test_every_row_is_the_same_config_but_the_method(task, label):
    config_file, overrides = bo.TASKS[task]
    base = load_config(config_file, overrides)
    config = load_config(config_file, [*overrides, *bo.METHODS[label]])
    cls, objective, k = EXPECTED[label]
    assert config.train.objective == objective
    method = build_method(config)
    assert type(method) is cls
    if cls is SLTT:
        assert method.k == k
    # only the method (and for one row the objective) differs from the task's config
    changed = {
        key for key in ("model", "optim", "data") if getattr(config, key) != getattr(base, key)
    }
    assert not changed and config.train.epochs == base.train.epochs


def test_tasks_set_the_timesteps_they_are_named_after():
    for task, steps in (("digits-T4", 4), ("digits-T16", 16)):
        config_file, overrides = bo.TASKS[task]
        assert load_config(config_file, overrides).data.timesteps == steps


def test_batch_is_the_encoded_run_of_training_samples():
    config = load_config("digits_csnn.yaml", ["data.timesteps=4", "data.batch_size=5"])
    train_set, _ = build_datasets(config)
    x, y = bo.batch(config, train_set, start=3)
    assert x.shape == (4, 5, 1, 8, 8)
    samples = [train_set[i] for i in range(3, 8)]
    assert y.tolist() == [int(s[1]) for s in samples]
    stacked = torch.stack([s[0] for s in samples])
    for t in range(4):  # direct encoding: the image at every step
        torch.testing.assert_close(x[t], stacked)


def test_a_random_encoder_draws_the_same_batch_every_time():
    config = load_config(
        "digits_csnn.yaml", ["data.timesteps=6", "data.batch_size=4", "data.encoder=poisson"]
    )
    train_set, _ = build_datasets(config)
    first, y1 = bo.batch(config, train_set)
    second, y2 = bo.batch(config, train_set)
    assert torch.equal(first, second) and torch.equal(y1, y2)
    assert set(first.unique().tolist()) <= {0.0, 1.0} and 0 < float(first.mean()) < 1
