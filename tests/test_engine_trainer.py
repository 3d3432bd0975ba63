import csv
import json
import math

import pytest
import torch

from spikeforge.engine.checkpoint import load_checkpoint, save_checkpoint
from spikeforge.engine.config import load_config
from spikeforge.engine.run import make_trainer
from spikeforge.engine.trainer import TrainingError

SMALL = [
    "train.epochs=2",
    "train.progress=false",
    "data.batch_size=256",
    "model.kwargs={widths: [4, 8]}",
]


def config(tmp_path, *extra):
    return load_config(None, [*SMALL, f"train.run_dir={tmp_path}", *extra])


def weights(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_interrupted_mid_epoch_run_resumes_bit_exactly(tmp_path):
    # Encoder randomness matters for bit-exactness: use Poisson encoding.
    extra = ["data.encoder=poisson", "train.checkpoint_every=2"]
    whole = make_trainer(config(tmp_path, *extra), tmp_path / "whole")
    whole.fit()
    # "Kill" after step 3: the last checkpoint on disk is from step 2 (mid-epoch 1).
    broken = make_trainer(config(tmp_path, *extra, "train.max_steps=3"), tmp_path / "broken")
    broken.fit()
    assert broken.position.step == 3 and not (tmp_path / "broken" / "metrics.jsonl").exists()
    resumed = make_trainer(config(tmp_path, *extra), tmp_path / "broken")
    resumed.fit(resume=True)
    for name, tensor in weights(whole).items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name

    def timeless(history):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in history]

    assert timeless(resumed.history) == timeless(whole.history)
    # The mean train loss of the interrupted epoch includes the batches before the break.
    assert load_checkpoint(tmp_path / "broken" / "last.pt")["epoch_loss"] == {"sum": 0, "count": 0}
    train_losses = [r["train_loss"] for r in whole.history]
    assert [r["train_loss"] for r in resumed.history] == train_losses
    assert all(math.isfinite(loss) for loss in train_losses)
    lines = (tmp_path / "broken" / "metrics.jsonl").read_text().splitlines()
    logged = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in logged] == [1, 2]
    assert [r["test_acc"] for r in logged] == [r["test_acc"] for r in whole.history]
    assert [r["train_loss"] for r in logged] == train_losses


def record_batch_losses(trainer):
    """Wrap the trainer's method: ``losses[epoch]`` gets every training batch's loss."""
    losses: dict[int, list[float]] = {}
    forward = trainer.method.forward

    def recording(model, inputs, y):
        terms = forward(model, inputs, y)
        if torch.is_grad_enabled():  # training, not evaluation (which runs in no_grad)
            losses.setdefault(trainer.position.epoch, []).append(terms["loss"].detach().item())
        return terms

    trainer.method.forward = recording
    return losses


def test_history_records_the_mean_training_loss_and_progress_reports_it(tmp_path, capsys):
    trainer = make_trainer(config(tmp_path, "train.progress=true"), tmp_path / "r")
    losses = record_batch_losses(trainer)
    trainer.fit()
    assert sorted(losses) == [0, 1]
    assert all(len(batch) == trainer.steps_per_epoch for batch in losses.values())
    for record, (_, batch) in zip(trainer.history, sorted(losses.items()), strict=True):
        assert math.isfinite(record["train_loss"])
        assert record["train_loss"] == pytest.approx(sum(batch) / len(batch), rel=1e-12)
    assert trainer.history[1]["train_loss"] < trainer.history[0]["train_loss"]
    logged = [
        json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["train_loss"] for r in logged] == [r["train_loss"] for r in trainer.history]
    with (tmp_path / "r" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [float(r["train_loss"]) for r in rows] == [r["train_loss"] for r in trainer.history]
    assert (
        load_checkpoint(tmp_path / "r" / "last.pt")["history"][1]["train_loss"]
        == (trainer.history[1]["train_loss"])
    )
    out, err = capsys.readouterr()  # captured: no terminal, so plain lines, not a bar
    assert f"epoch   2/2  train loss {trainer.history[1]['train_loss']:.4f}  test loss" in out
    steps = trainer.steps_per_epoch
    assert f"epoch 2/2: {steps}/{steps} batches (100%)" in err and "loss" in err
    assert "evaluate: " in err and "\r" not in out + err


def test_resuming_a_checkpoint_without_the_running_train_loss(tmp_path):
    # A checkpoint from before train_loss was logged: no "epoch_loss", history without it.
    cfg = config(tmp_path, "train.checkpoint_every=1")
    steps = make_trainer(cfg, tmp_path / "probe").steps_per_epoch
    broken = make_trainer(
        config(tmp_path, "train.checkpoint_every=1", f"train.max_steps={steps + 1}"),
        tmp_path / "old",
    )
    broken.fit()
    payload = load_checkpoint(tmp_path / "old" / "last.pt")
    assert payload.pop("epoch_loss")["count"] == 1  # one batch into epoch 2
    for record in payload["history"]:
        del record["train_loss"]
    save_checkpoint(tmp_path / "old" / "last.pt", payload)
    resumed = make_trainer(cfg, tmp_path / "old")
    resumed.fit(resume=True)
    assert "train_loss" not in resumed.history[0]
    assert math.isfinite(resumed.history[1]["train_loss"])  # the batches after the resume
    with (tmp_path / "old" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))  # the new column is added, not misaligned
    assert [r["train_loss"] for r in rows] == ["", str(resumed.history[1]["train_loss"])]
    assert [float(r["test_acc"]) for r in rows] == [r["test_acc"] for r in resumed.history]


def test_run_directory_holds_config_logs_and_checkpoints(tmp_path):
    trainer = make_trainer(config(tmp_path), tmp_path / "run")
    final = trainer.fit()
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.yaml", "metrics.jsonl", "metrics.csv", "last.pt", "best.pt"} <= files
    assert final["epoch"] == 2 and 0.0 <= final["test_acc"] <= 1.0
    assert set(final["firing_rates"]) == {"1", "3"}


def test_training_improves_over_chance(tmp_path):
    trainer = make_trainer(config(tmp_path, "train.epochs=3", "data.batch_size=64"), tmp_path / "r")
    assert trainer.fit()["test_acc"] > 0.5  # 10 classes: chance is 0.1


def test_non_finite_loss_raises_clear_error(tmp_path):
    trainer = make_trainer(config(tmp_path), tmp_path / "nan")
    with torch.no_grad():
        trainer.model[-1].layer[-1].bias.fill_(float("nan"))  # the readout's bias
    with pytest.raises(TrainingError, match="non-finite loss nan at epoch 1, batch 0") as info:
        trainer.fit()
    assert "no checkpoint was written yet" in str(info.value)  # none exists to be "kept"


def test_early_stopping(tmp_path):
    trainer = make_trainer(
        config(tmp_path, "train.epochs=6", "optim.lr=0.0", "train.early_stopping_patience=2"),
        tmp_path / "es",
    )
    trainer.fit()
    assert len(trainer.history) == 3  # lr 0: no improvement after epoch 1


def test_encoder_and_dataset_kind_must_agree(tmp_path):
    with pytest.raises(ValueError, match="data.encoder must name an encoder"):
        make_trainer(config(tmp_path, "data.encoder=none"), tmp_path / "x")


def test_amp_requires_cuda_and_grad_clip_runs(tmp_path):
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="train.amp=true needs a CUDA device"):
            make_trainer(config(tmp_path, "train.amp=true"), tmp_path / "amp")
    trainer = make_trainer(
        config(tmp_path, "optim.grad_clip=0.01", "train.max_steps=2"), tmp_path / "c"
    )
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.fit()
    after = list(trainer.model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(after, before, strict=True))


def test_sltt_trains_through_the_config_and_resumes_bit_exactly(tmp_path):
    # SLTT-K: the method backpropagates k=2 of the steps chosen per batch; its batch counter
    # is checkpointed, so the resumed run draws the same steps.
    extra = ["train.method=sltt", "train.method_options={k: 2}", "train.checkpoint_every=2"]
    whole = make_trainer(config(tmp_path, *extra), tmp_path / "whole")
    assert whole.method.k == 2 and whole.method.seed == 0
    final = whole.fit()
    assert final["test_acc"] > 0.3 and int(whole.method.batches_seen) == whole.position.step
    broken = make_trainer(config(tmp_path, *extra, "train.max_steps=3"), tmp_path / "broken")
    broken.fit()
    resumed = make_trainer(config(tmp_path, *extra), tmp_path / "broken")
    resumed.fit(resume=True)
    for name, tensor in weights(whole).items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_method_options_the_method_does_not_take_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"train.method=bptt does not take .*\{'k': 2\}"):
        make_trainer(config(tmp_path, "train.method_options={k: 2}"), tmp_path / "r")


def test_ottt_trains_through_the_config(tmp_path):
    trainer = make_trainer(config(tmp_path, "train.method=ottt"), tmp_path / "r")
    assert trainer.fit()["test_acc"] > 0.3  # 10 classes: chance is 0.1


def test_metrics_never_hold_an_epoch_whose_checkpoint_failed(tmp_path, monkeypatch):
    """A save that fails (a full disk) leaves no logged record of the unsaved epoch."""
    import spikeforge.engine.trainer as trainer_module
    from spikeforge.engine.checkpoint import CheckpointError

    trainer = make_trainer(config(tmp_path), tmp_path / "full")
    real = trainer_module.save_checkpoint
    saves = []

    def fail_in_epoch_two(path, payload):
        if payload["position"]["epoch"] == 2:
            raise CheckpointError(f"no space left on the device writing checkpoint {path}")
        saves.append(path)
        return real(path, payload)

    monkeypatch.setattr(trainer_module, "save_checkpoint", fail_in_epoch_two)
    with pytest.raises(CheckpointError, match="no space left"):
        trainer.fit()
    records = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in records] == [1]
    assert load_checkpoint(tmp_path / "full" / "last.pt")["position"]["epoch"] == 1


def test_mid_epoch_resume_with_a_changed_batch_size_is_refused(tmp_path):
    from spikeforge.engine.checkpoint import CheckpointError

    first = make_trainer(
        config(tmp_path, "train.max_steps=2", "train.checkpoint_every=1"), tmp_path / "r"
    )
    first.fit()
    changed = make_trainer(config(tmp_path, "data.batch_size=128"), tmp_path / "r")
    with pytest.raises(CheckpointError, match=r"data\.batch_size 256 -> 128 would skip"):
        changed.fit(resume=True)
    same = make_trainer(config(tmp_path), tmp_path / "r")
    same.fit(resume=True)  # unchanged: fine
    assert same.position.epoch == 2
