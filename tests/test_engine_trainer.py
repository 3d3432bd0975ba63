import contextlib
import csv
import json
import math

import pytest
import torch

from spikeforge.engine.checkpoint import load_checkpoint, save_checkpoint
from spikeforge.engine.config import load_config
from spikeforge.engine.method import build_method
from spikeforge.engine.run import evaluate_checkpoint, make_trainer, train
from spikeforge.engine.trainer import Trainer, TrainingError

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
    empty = {"sum": 0, "count": 0, "correct": 0, "seen": 0, "terms": {}}
    assert load_checkpoint(tmp_path / "broken" / "last.pt")["epoch_loss"] == empty
    assert [r["train_acc"] for r in resumed.history] == [r["train_acc"] for r in whole.history]
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


def test_history_records_the_training_accuracy_of_the_epochs_batches(tmp_path):
    """``train_acc``: the decoder evaluation uses, on each training forward's output
    (counted over the epoch's batches), written to the logs like the loss."""
    from spikeforge.engine.build import build_decoder

    trainer = make_trainer(config(tmp_path, "data.batch_size=200"), tmp_path / "r")
    decoder = build_decoder(trainer.config, trainer.model, trainer.method)
    counts: dict[int, list[int]] = {}
    forward = trainer.method.forward

    def recording(model, inputs, y):
        terms = forward(model, inputs, y)
        if torch.is_grad_enabled():  # training batches only
            right = int((decoder.predict(terms["output"].detach()) == y).sum())
            tally = counts.setdefault(trainer.position.epoch, [0, 0])
            tally[0], tally[1] = tally[0] + right, tally[1] + len(y)
        return terms

    trainer.method.forward = recording
    trainer.fit()
    expected = [counts[e][0] / counts[e][1] for e in sorted(counts)]
    assert [r["train_acc"] for r in trainer.history] == expected
    assert all(c[1] == len(trainer.train_set) for c in counts.values())  # every sample once
    assert 0.1 < expected[1] <= 1.0 and expected[1] > expected[0]  # it learns
    with (tmp_path / "r" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [float(r["train_acc"]) for r in rows] == expected


def test_a_resumed_run_counts_the_training_time_before_its_stop(tmp_path, monkeypatch):
    """Epoch records' ``seconds`` (and ``train_seconds`` in ``last.pt``) sum every
    ``fit`` call on the run: on a fake clock that moves 10 s per training pass, a run
    stopped inside epoch 1 and resumed logs 20 s and 30 s, as one that never stopped."""
    import types

    import spikeforge.engine.trainer as module

    clock = [1000.0]
    monkeypatch.setattr(module, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    real = Trainer._train_epoch

    def ten_seconds(self):
        clock[0] += 10.0
        return real(self)

    monkeypatch.setattr(Trainer, "_train_epoch", ten_seconds)
    whole = make_trainer(config(tmp_path), tmp_path / "whole")
    whole.fit()
    assert [r["seconds"] for r in whole.history] == [10.0, 20.0]
    broken = make_trainer(config(tmp_path, "train.max_steps=1"), tmp_path / "broken")
    broken.fit()
    assert load_checkpoint(tmp_path / "broken" / "last.pt")["train_seconds"] == 10.0
    resumed = make_trainer(config(tmp_path), tmp_path / "broken")
    resumed.fit(resume=True)
    # epoch 1 ends in the second call (10 s before the stop + 10 s after), epoch 2 +10 s
    assert [r["seconds"] for r in resumed.history] == [20.0, 30.0]
    assert resumed.train_seconds() == 30.0  # not counting outside fit
    clock[0] += 500.0
    assert resumed.train_seconds() == 30.0


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


def test_eval_every_tests_every_nth_and_the_last_epoch_and_leaves_training_alone(tmp_path):
    every = make_trainer(config(tmp_path, "train.epochs=5"), tmp_path / "every")
    every.fit()
    sparse = make_trainer(config(tmp_path, "train.epochs=5", "train.eval_every=2"), tmp_path / "s")
    final = sparse.fit()
    tested = [r["epoch"] for r in sparse.history if "test_acc" in r]
    assert tested == [2, 4, 5]  # every 2nd epoch, and the last
    assert all("firing_rates" not in r for r in sparse.history if r["epoch"] in (1, 3))
    # the evaluations skipped change nothing in training: same losses, same final model
    assert [r["train_loss"] for r in sparse.history] == [r["train_loss"] for r in every.history]
    trained, reference = weights(sparse), weights(every)
    assert all(torch.equal(trained[k], reference[k]) for k in reference)
    assert final["test_acc"] == every.history[-1]["test_acc"]
    assert {r["epoch"]: r["test_acc"] for r in every.history if r["epoch"] in (2, 4, 5)} == {
        r["epoch"]: r["test_acc"] for r in sparse.history if "test_acc" in r
    }
    # early stopping counts evaluations: lr 0, patience 1 -> stops at the second one
    stop = make_trainer(
        config(tmp_path, "train.epochs=9", "optim.lr=0.0", "train.eval_every=3",
               "train.early_stopping_patience=1"),
        tmp_path / "stop",
    )  # fmt: skip
    stop.fit()
    assert len(stop.history) == 6
    # the metrics files hold the untested epochs too, without test columns
    lines = (tmp_path / "s" / "metrics.csv").read_text().splitlines()
    assert len(lines) == 6 and lines[1].count(",") == lines[2].count(",")


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


# Masked PSN's progressive masking, driven by the trainer (spikeforge._schedule): λ ramps
# from 0 at 1/4 of training to 1 at 3/4 (2 epochs x 6 steps: steps 3 .. 9), then stays 1.
MASKED = [
    "model.neuron=masked_psn",
    "model.neuron_kwargs={T: 4, k: 2, v_th: 0.25, init: kaiming, mask_schedule: [0.25, 0.75]}",
    "train.tensorboard=false",
]
STEPS = 12  # 2 epochs x ceil(1437 / 256)


def masked_lambdas(path):
    """``{name: λ}`` of the masked PSN buffers in a checkpoint's model."""
    model = load_checkpoint(path)["model"]
    return {k: float(v) for k, v in model.items() if k.endswith("_mask_progress")}


def cli_train(tmp_path, name, *extra):
    from spikeforge.cli import main

    overrides = [*SMALL, *MASKED, f"train.run_dir={tmp_path}", f"train.run_name={name}"]
    assert main(["train", *overrides, *extra]) == 0
    return tmp_path / name


def test_masked_psn_mask_ramps_to_causal_in_spikeforge_train(tmp_path, monkeypatch):
    from spikeforge.engine.config import config_from_dict
    from spikeforge.neurons import MaskedPSN

    seen: dict[int, list[float]] = {}  # λ of each masked PSN at every training forward
    effective_weight = MaskedPSN.effective_weight

    def recording(self):
        if self.training:
            seen.setdefault(id(self), []).append(self.mask_progress)
        return effective_weight(self)

    monkeypatch.setattr(MaskedPSN, "effective_weight", recording)
    run = cli_train(tmp_path, "masked")
    expected = [min(1.0, max(0.0, (n / STEPS - 0.25) / 0.5)) for n in range(STEPS)]
    assert expected[:4] == [0.0] * 4 and expected[8] < 1.0 and expected[9:] == [1.0] * 3
    assert len(seen) == 2  # csnn_tiny: one neuron per conv stage
    for lambdas in seen.values():
        assert lambdas == pytest.approx(expected, abs=1e-7)  # 1 from step 9 = 3/4 of 12
    # Logged per epoch (λ at the epoch's end: progress 1/2, then 1) and in the checkpoint.
    records = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["schedules"] for r in records] == [
        {"1.mask_progress": 0.5, "3.mask_progress": 0.5},
        {"1.mask_progress": 1.0, "3.mask_progress": 1.0},
    ]
    assert masked_lambdas(run / "last.pt") == {"1._mask_progress": 1.0, "3._mask_progress": 1.0}
    # best.pt is picked only once the ramp is done: epoch 1 ended at λ = 0.5
    assert load_checkpoint(run / "best.pt")["position"]["epoch"] == 2
    assert masked_lambdas(run / "best.pt") == {"1._mask_progress": 1.0, "3._mask_progress": 1.0}
    # The trained network is causal: new inputs from step t on leave outputs before t alone.
    payload = load_checkpoint(run / "last.pt")
    trainer = make_trainer(config_from_dict(payload["config"]), run, evaluation=True)
    model = trainer.model.eval()
    model.load_state_dict(payload["model"])
    x = 3 * torch.rand(4, 16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(x)
        for t in range(1, 4):
            y = x.clone()
            y[t:] = 3 * torch.rand(y[t:].shape, generator=torch.Generator().manual_seed(t))
            assert torch.equal(model(y)[:t], out[:t]), t
        # ...which the check would catch: unmasked (λ = 0), the past changes too.
        for neuron in model.modules():
            if isinstance(neuron, MaskedPSN):
                neuron.set_mask_progress(0.0)
        out = model(x)
        y = x.clone()
        y[1:] = 3 * torch.rand(y[1:].shape, generator=torch.Generator().manual_seed(1))
        assert not torch.equal(model(y)[:1], out[:1])


def test_masked_psn_run_interrupted_mid_ramp_resumes_bit_exactly(tmp_path):
    from spikeforge.cli import main

    whole = cli_train(tmp_path, "whole", "train.checkpoint_every=2")
    broken = cli_train(tmp_path, "broken", "train.checkpoint_every=2", "train.max_steps=5")
    stopped = masked_lambdas(broken / "last.pt")  # λ of step 5 of 12 (0-based 4): 1/6
    assert stopped == pytest.approx({"1._mask_progress": 1 / 6, "3._mask_progress": 1 / 6})
    assert main(["train", "--resume", str(broken), "train.max_steps=null"]) == 0
    done, again = load_checkpoint(whole / "last.pt"), load_checkpoint(broken / "last.pt")
    assert done["position"] == again["position"] and done["position"]["step"] == STEPS
    for name, tensor in done["model"].items():
        assert torch.equal(tensor, again["model"][name]), name

    def timeless(run):
        lines = (run / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(r).items() if k != "seconds"} for r in lines]

    assert timeless(broken) == timeless(whole)
    assert [r["schedules"]["1.mask_progress"] for r in timeless(whole)] == [0.5, 1.0]


# -- decoding: the configured decoder scores accuracy -----------------------------------
class _Labelled(torch.utils.data.Dataset):
    """Static samples ``[1]`` holding their own label, for a module that reads it."""

    temporal = False

    def __init__(self, n: int = 12, classes: int = 3) -> None:
        self.labels = torch.arange(n) % classes

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return torch.tensor([float(self.labels[i])]), int(self.labels[i])


class _TimedSpikes(torch.nn.Module):
    """Spikes whose timing and counts disagree: the true class fires once, at step 0;
    the next class fires at every later step (more spikes, later)."""

    readout_kind = "spikes"

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.classes = classes
        self.scale = torch.nn.Parameter(torch.ones(()))  # something for the optimiser

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [T, B, 1] -> [T, B, C]
        T, B = x.shape[:2]
        label = x[0, :, 0].long()
        out = torch.zeros(T, B, self.classes)
        out[0, torch.arange(B), label] = 1.0
        out[1:, torch.arange(B), (label + 1) % self.classes] = 1.0
        return out * self.scale


def test_evaluation_scores_accuracy_with_the_configured_decoder(tmp_path):
    def accuracy(*overrides):
        cfg = load_config(
            None, ["data.timesteps=4", "train.progress=false", "train.tensorboard=false",
                   f"train.run_dir={tmp_path}", *overrides],
        )  # fmt: skip
        model = _TimedSpikes()
        data = _Labelled()
        method = build_method(cfg, model=model)
        trainer = Trainer(cfg, model, method, data, data, tmp_path / "r", "cpu")
        metrics = trainer.evaluate(data)
        return metrics["accuracy"], metrics["decoder"]

    # One spike first for the true class, three later for the next: the decoders disagree.
    assert accuracy("train.objective=ce_rate", "model.decoder=first_spike") == (1.0, "first_spike")
    assert accuracy("train.objective=ce_rate", "model.decoder=rate") == (0.0, "rate")
    # No decoder: the objective's own readout (counts for ce_rate, times for ce_temporal).
    assert accuracy("train.objective=ce_rate") == (0.0, "ce_rate's own readout")
    assert accuracy("train.objective=ce_temporal") == (1.0, "ce_temporal's own readout")


def test_population_coding_trains_from_a_config(tmp_path, one_thread):
    """Population-coded inputs (Gaussian receptive fields) into a model with a spiking
    output population per class, decoded by the population decoder: above chance after
    one short epoch, and ``spikeforge eval`` can re-decode the checkpoint."""
    cfg = load_config(
        None,
        [
            "data.encoder=population",
            "data.encoder_options={population: 4}",
            "data.batch_size=32",
            "model.kwargs.population=4",
            "model.kwargs.readout=spiking",
            "model.decoder=population",
            "train.objective=ce_rate",
            "train.epochs=1",
            "train.progress=false",
            "train.tensorboard=false",
            f"train.run_dir={tmp_path}",
            "train.run_name=pop",
        ],
    )
    trainer, final = train(cfg)
    conv = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.in_channels == 4  # 1 channel × 4 receptive fields
    assert trainer.method.objective.population == 4
    x, _ = trainer._load(trainer.test_set, torch.arange(2))
    out = trainer.model(trainer.encode(x))
    assert out.shape == (4, 2, 40) and set(out.unique().tolist()) <= {0.0, 1.0}
    assert final["test_acc"] > 0.3  # 10 classes: chance is 0.1
    metrics = evaluate_checkpoint(tmp_path / "pop" / "last.pt")
    assert metrics["decoder"] == "population" and metrics["accuracy"] == final["test_acc"]
    first = evaluate_checkpoint(tmp_path / "pop" / "last.pt", ["model.decoder=first_spike"])
    assert first["decoder"] == "first_spike" and 0.0 <= first["accuracy"] <= 1.0


# -- data.augment: training batches only, before encoding, resume-exact ----------------
AUGMENT = ["data.augment.crop_padding=2", "data.augment.flip=true"]


def test_augmented_run_resumes_bit_exactly_and_augmentation_changes_training(tmp_path):
    extra = [*AUGMENT, "data.encoder=poisson", "train.checkpoint_every=2", "train.epochs=1"]
    whole = make_trainer(config(tmp_path, *extra), tmp_path / "whole")
    whole.fit()
    make_trainer(config(tmp_path, *extra, "train.max_steps=3"), tmp_path / "broken").fit()
    resumed = make_trainer(config(tmp_path, *extra), tmp_path / "broken")
    resumed.fit(resume=True)
    for name, tensor in weights(whole).items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    # the same run without augmentation ends elsewhere: the augment was really applied
    plain = make_trainer(config(tmp_path, *extra[2:]), tmp_path / "plain")
    plain.fit()
    assert any(not torch.equal(t, weights(plain)[k]) for k, t in weights(whole).items())


def model_inputs(trainer):
    """Record every input ``[T, B, ...]`` the trainer's model is called with."""
    seen = []
    trainer.model.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    return seen


def test_augment_applies_to_training_batches_before_encoding_never_to_evaluation(tmp_path):
    trainer = make_trainer(config(tmp_path, *AUGMENT), tmp_path / "a")
    assert trainer.augment.crop_padding == 2 and trainer.augment.flip
    seen = model_inputs(trainer)
    indices = torch.arange(8)
    trainer._train_batch(indices)
    x, _ = trainer._load(trainer.train_set, indices)
    # the per-batch generator of (seed, epoch 0, batch 0), as _train_batch seeds it
    from spikeforge.engine.trainer import _mix

    generator = torch.Generator().manual_seed(_mix(trainer.config.train.seed, 0, 0, 1, 0))
    want = trainer.augment(x, generator)
    assert not torch.equal(want, x)
    assert torch.equal(seen[0], want.unsqueeze(0).expand_as(seen[0]))  # direct: T copies
    # evaluation sees the images as they are
    seen.clear()
    small = torch.utils.data.Subset(trainer.test_set, range(8))
    trainer.evaluate(small)
    x, _ = trainer._load(trainer.test_set, torch.arange(8))
    assert torch.equal(seen[0], x.unsqueeze(0).expand_as(seen[0]))


@pytest.mark.parametrize("method", ["kd", "lasnn"])
def test_teacher_and_student_see_the_same_augmented_batch(tmp_path, digits_ann_checkpoint, method):
    pairs = ["distill.pairs=[[layers.1, '1'], [layers.5, '3']]"] if method == "lasnn" else []
    distill = [f"distill.teacher={digits_ann_checkpoint}", f"train.method={method}", *pairs]
    trainer = make_trainer(config(tmp_path, *AUGMENT, *distill), tmp_path / method)
    student = model_inputs(trainer)
    teacher = []
    trainer.method.teacher.register_forward_pre_hook(lambda m, args: teacher.append(args[0]))
    indices = torch.arange(16)
    trainer._train_batch(indices)
    x, _ = trainer._load(trainer.train_set, indices)
    assert not torch.equal(student[0][0], x)  # augmented ...
    torch.testing.assert_close(teacher[0], student[0].mean(0), rtol=0, atol=0)  # ... for both


def test_augment_is_refused_for_non_image_data_and_bad_values_with_exit_2(tmp_path, capsys):
    from spikeforge.cli import main

    with pytest.raises(ValueError, match=r"config key data.augment.crop_padding must be >= 0"):
        config(tmp_path, "data.augment.crop_padding=-1")
    with pytest.raises(ValueError, match=r"unknown config key data.augment.crop; valid keys"):
        config(tmp_path, "data.augment.crop=4")
    run = [f"train.run_dir={tmp_path}", "train.progress=false"]
    assert main(["train", *run, "data.augment.flip=maybe"]) == 2
    err = capsys.readouterr().err.strip()
    assert "data.augment.flip expects bool, got 'maybe'" in err and "\n" not in err
    rows = ["--config", "seq_mnist_small_mlp"]  # 28 steps of 28 pixels: a sequence
    assert main(["train", *rows, *run, "data.augment.flip=true"]) == 2
    err = capsys.readouterr().err.strip()
    assert "data.augment needs a static image dataset" in err and "temporal" in err
    assert "\n" not in err


# -- train.memory: what the forward keeps for backward; the training is the same --------
def test_memory_modes_train_digits_to_bit_identical_weights(tmp_path, monkeypatch):
    import spikeforge.engine.trainer as trainer_module

    real = trainer_module.memory_mode
    entered = []

    def recording(model, mode):  # the real context, noting the mode and what it packed
        with real(model, mode) as stats:
            yield stats
        entered.append(
            (mode, *((None, None) if stats is None else (stats.tensors_packed, stats.bn_fused)))
        )

    monkeypatch.setattr(trainer_module, "memory_mode", contextlib.contextmanager(recording))
    final, convs = {}, {}
    extra = ["train.max_steps=3", "data.batch_size=64", "data.encoder=poisson"]
    for mode in ("full", "compact", "checkpoint"):
        trainer = make_trainer(config(tmp_path, *extra, f"train.memory={mode}"), tmp_path / mode)
        initial = weights(trainer)
        calls = []
        trainer.model[0].register_forward_hook(lambda *args, calls=calls: calls.append(1))
        trainer.fit()
        final[mode], convs[mode] = weights(trainer), len(calls)
    for mode in ("compact", "checkpoint"):
        for name, tensor in final["full"].items():
            assert torch.equal(final[mode][name], tensor), (mode, name)
    assert [mode for mode, _, _ in entered] == ["full"] * 3 + ["compact"] * 3 + ["checkpoint"] * 3
    assert all(packed > 0 for mode, packed, _ in entered if mode != "full")  # spikes as bits
    # compact: the LIF after each batch norm rebuilt its input in its backward kernel
    assert all(fused > 0 for mode, _, fused in entered if mode == "compact")
    # checkpoint ran the first Conv-BN again in each backward: 3 steps, 6 forwards
    assert convs == {"full": 3, "compact": 3, "checkpoint": 6}
    assert not torch.equal(final["checkpoint"]["0.layer.0.weight"], initial["0.layer.0.weight"])


def test_memory_default_is_compact_and_bad_values_exit_2_with_one_line(tmp_path, capsys):
    from spikeforge.cli import main
    from spikeforge.engine.config import TrainConfig
    from spikeforge.layers import MEMORY_MODES

    assert config(tmp_path).train.memory == "compact"
    field = TrainConfig.__dataclass_fields__["memory"]
    assert field.metadata["check"]["choices"] == MEMORY_MODES  # one list of modes
    run = [f"train.run_dir={tmp_path}", "train.progress=false", "train.max_steps=1"]
    assert main(["train", *run, "train.memory=bogus"]) == 2
    err = capsys.readouterr().err.strip()
    assert "config key train.memory must be one of full, compact, checkpoint, got 'bogus'" in err
    assert "\n" not in err
    # step-by-step methods carry neuron state between calls: no recomputation for them
    with pytest.raises(ValueError, match="method sltt calls backward itself"):
        make_trainer(config(tmp_path, "train.method=sltt", "train.memory=checkpoint"), tmp_path)
    assert main(["train", *run, "train.method=sltt", "train.memory=checkpoint"]) == 2
    err = capsys.readouterr().err.strip()
    assert "use train.memory=compact or full" in err and "\n" not in err


def test_method_terms_are_logged_as_epoch_means_and_survive_a_mid_epoch_resume(
    tmp_path, digits_ann_checkpoint
):
    # response KD: loss = (1 − α) CE + α KD per batch, so the epoch means obey it too
    kd = [
        "train.method=kd",
        f"distill.teacher={digits_ann_checkpoint}",
        "distill.options={tau: 2.0, alpha: 0.25}",
        "data.encoder=poisson",
        "train.checkpoint_every=2",
    ]
    whole = make_trainer(config(tmp_path, *kd), tmp_path / "whole")
    whole.fit()
    for record in whole.history:
        assert record["train_ce"] > 0 and record["train_kd"] > 0
        mix = 0.75 * record["train_ce"] + 0.25 * record["train_kd"]
        assert mix == pytest.approx(record["train_loss"], rel=1e-6)  # float32 losses
    assert "train_output" not in whole.history[0]
    broken = make_trainer(config(tmp_path, *kd, "train.max_steps=3"), tmp_path / "broken")
    broken.fit()
    saved = load_checkpoint(tmp_path / "broken" / "last.pt")["epoch_loss"]
    assert saved["count"] == 3 and set(saved["terms"]) == {"ce", "kd"}
    resumed = make_trainer(config(tmp_path, *kd), tmp_path / "broken")
    resumed.fit(resume=True)
    for key in ("train_ce", "train_kd"):
        assert [r[key] for r in resumed.history] == [r[key] for r in whole.history]
    with (tmp_path / "broken" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [float(r["train_kd"]) for r in rows] == [r["train_kd"] for r in whole.history]
