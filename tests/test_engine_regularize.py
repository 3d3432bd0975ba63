"""Firing-rate regularizers from ``train.regularizers`` (``engine/regularize.py``): added to
the training loss through the method wrapper, checked when the method is built, logged
per batch (``terms["reg_<name>"]``) and as the epoch's running mean, and resumable
bit-exactly."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from spikeforge.analysis.monitors import forward_hooks, spiking_layers
from spikeforge.cli import main
from spikeforge.engine.build import build_datasets, build_model
from spikeforge.engine.checkpoint import load_checkpoint
from spikeforge.engine.config import load_config
from spikeforge.engine.method import build_method
from spikeforge.engine.regularize import Regularized, check_entries
from spikeforge.engine.run import make_trainer, train
from spikeforge.losses import L1Rate
from spikeforge.methods import Method

SMALL = [
    "train.epochs=2",
    "train.progress=false",
    "train.tensorboard=false",
    "data.batch_size=256",
    "model.kwargs={widths: [4, 8]}",
]


def config(tmp_path, *extra):
    return load_config(None, [*SMALL, f"train.run_dir={tmp_path}", *extra])


@pytest.fixture(scope="module")
def digits():
    return build_datasets(load_config(None))


@pytest.fixture(scope="module")
def net(digits):
    torch.manual_seed(0)
    return build_model(load_config(None, ["model.kwargs={widths: [4, 8]}"]), digits[0])


def test_a_strong_l1_rate_lowers_the_firing_rate(tmp_path, one_thread):
    """Through ``spikeforge train``: the same run with and without a strong L1 rate
    penalty; the logged test firing rates (and the training value) come out lower."""
    logged = {}
    for name, weight in (("plain", 0.0), ("sparse", 2.0)):
        args = ["train", "train.epochs=2", "data.batch_size=128", "train.progress=false"]
        args += ["train.tensorboard=false", f"train.run_dir={tmp_path}", f"train.run_name={name}"]
        args.append(f"train.regularizers=[{{name: l1_rate, weight: {weight}, reduction: mean}}]")
        assert main(args) == 0
        lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        logged[name] = json.loads(lines[-1])
        sums = load_checkpoint(tmp_path / name / "last.pt")["method"]["value_sums"]
        logged[name]["train_value"] = float(sums[0])
    rates = {k: sum(r["firing_rates"].values()) / len(r["firing_rates"]) for k, r in logged.items()}
    assert 0 < rates["sparse"] < 0.7 * rates["plain"], rates
    assert logged["sparse"]["train_value"] < logged["plain"]["train_value"]
    # the epoch's mean value is logged beside the test metrics (metrics.jsonl)
    assert 0 < logged["sparse"]["reg_l1_rate"] < logged["plain"]["reg_l1_rate"]


def test_the_logged_value_equals_a_hand_computation_on_one_batch(tmp_path, one_thread, monkeypatch):
    overrides = ["train.max_steps=1", "train.regularizers=[{name: l1_rate, weight: 0.5}]"]
    cfg = config(tmp_path, *overrides)
    seen = {}
    original = Regularized.forward

    def recording(self, model, inputs, targets):
        if torch.is_grad_enabled() and "inputs" not in seen:
            seen["inputs"] = inputs.clone()
            seen["state"] = {k: v.clone() for k, v in model.state_dict().items()}
            seen["terms"] = original(self, model, inputs, targets)
            return seen["terms"]
        return original(self, model, inputs, targets)

    monkeypatch.setattr(Regularized, "forward", recording)
    trainer, _ = train(cfg, run_dir=tmp_path / "r")
    assert isinstance(trainer.method, Regularized) and trainer.position.step == 1
    # By hand: the model as it was before the step, in training mode, on the same batch.
    torch.manual_seed(0)
    model = build_model(cfg, trainer.train_set)
    model.load_state_dict(seen["state"])
    model.train()
    layers = spiking_layers(model)
    assert [name for name, _ in layers] == ["1", "3"]
    spikes = {}
    with (
        torch.no_grad(),
        forward_hooks(layers, lambda n: lambda m, a, out: spikes.update({n: out})),
    ):
        model(seen["inputs"])
    by_hand = 0.0
    for out in spikes.values():  # L1 of the per-sample rates, averaged over the batch
        T, B = out.shape[:2]
        by_hand += float(out.sum(0).reshape(B, -1).sum(1).mean() / T)
    terms = seen["terms"]
    assert float(terms["reg_l1_rate"]) == pytest.approx(by_hand, rel=1e-6)
    assert trainer.method.epoch_values() == pytest.approx({"reg_l1_rate": by_hand}, rel=1e-6)
    output = terms["output"].detach()
    objective = float(trainer.method.method.objective(output, _labels(trainer, seen)))
    assert float(terms["loss"].detach()) == pytest.approx(objective + 0.5 * by_hand, rel=1e-5)
    saved = load_checkpoint(tmp_path / "r" / "last.pt")["method"]
    assert float(saved["value_sums"][0]) == pytest.approx(by_hand, rel=1e-6)
    assert int(saved["batches"]) == 1


def _labels(trainer, seen):
    """The labels of the first training batch (the trainer's own batch order)."""
    indices = trainer._batch_indices(0)[0]
    _, y = trainer._load(trainer.train_set, indices)
    x = trainer.encode(trainer._load(trainer.train_set, indices)[0])
    assert torch.equal(x, seen["inputs"])  # the same batch as the recorded one
    return y


def test_a_regularized_run_resumes_bit_exactly(tmp_path, one_thread):
    extra = [
        "data.encoder=poisson",
        "train.checkpoint_every=2",
        "train.regularizers=[{name: l1_rate, weight: 0.01}, "
        "{name: rate_bounds, weight: 1.0, lower: 0.02, upper: 0.2, layers: ['3']}]",
    ]
    whole = make_trainer(config(tmp_path, *extra), tmp_path / "whole")
    whole.fit()
    broken = make_trainer(config(tmp_path, *extra, "train.max_steps=3"), tmp_path / "broken")
    broken.fit()
    resumed = make_trainer(config(tmp_path, *extra), tmp_path / "broken")
    resumed.fit(resume=True)
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    assert whole.method.state_dict().keys() == resumed.method.state_dict().keys()
    for name, tensor in whole.method.state_dict().items():
        assert torch.equal(tensor, resumed.method.state_dict()[name]), name
    assert whole.method.epoch_values() == resumed.method.epoch_values()
    assert set(whole.method.epoch_values()) == {"reg_l1_rate", "reg_rate_bounds"}

    def timeless(history):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in history]

    assert timeless(resumed.history) == timeless(whole.history)


def test_entries_are_checked_when_the_method_is_built(net):
    def build(*entries):
        text = ", ".join(entries)
        cfg = load_config(None, [f"train.regularizers=[{text}]"])
        return build_method(cfg, model=net, train_set=None)

    assert isinstance(build("{name: l1_rate, weight: 0.1}"), Regularized)
    assert not isinstance(build_method(load_config(None), model=net), Regularized)
    with pytest.raises(ValueError, match=r"regularizers\[0\]: unknown regularizer 'l2'.*l1_rate"):
        build("{name: l2, weight: 1}")
    with pytest.raises(ValueError, match=r"regularizers\[0\] needs a name, one of: l1_rate"):
        build("{weight: 1}")
    with pytest.raises(ValueError, match=r"regularizers\[1\].weight must be a number >= 0"):
        build("{name: l1_rate, weight: 1}", "{name: l1_rate, weight: -1}")
    with pytest.raises(ValueError, match=r"weight must be a number >= 0, got None"):
        build("{name: l1_rate}")
    with pytest.raises(ValueError, match=r"'features' is not a spiking layer.*layers: 1, 3"):
        build("{name: l1_rate, weight: 1, layers: [features]}")
    with pytest.raises(ValueError, match=r"no option\(s\) upper; its options: reduction"):
        build("{name: l1_rate, weight: 1, upper: 0.5}")
    with pytest.raises(ValueError, match=r"\(rate_bounds\): rate bounds must satisfy"):
        build("{name: rate_bounds, weight: 1, lower: 0.5, upper: 0.1}")
    with pytest.raises(ValueError, match="cannot be added to SLTT: it backpropagates inside"):
        cfg = load_config(
            None, ["train.method=sltt", "train.regularizers=[{name: l1_rate, weight: 1}]"]
        )
        build_method(cfg, model=net)
    with pytest.raises(ValueError, match="needs the model"):
        build_method(load_config(None, ["train.regularizers=[{name: l1_rate, weight: 1}]"]))
    ann = nn.Sequential(nn.Flatten(2), nn.Linear(64, 3))
    with pytest.raises(ValueError, match="has no spiking layers to regularize"):
        check_entries([{"name": "l1_rate", "weight": 1.0}], ann)
    # evaluating a checkpoint leaves them out: they only shape training
    evaluation = load_config(None, ["train.regularizers=[{name: l1_rate, weight: 1}]"])
    assert not isinstance(build_method(evaluation, evaluation=True, model=net), Regularized)


def test_layers_select_a_subset_and_evaluation_adds_nothing(net, generator):
    cfg = load_config(None, ["train.regularizers=[{name: l1_rate, weight: 2, layers: ['3']}]"])
    method = build_method(cfg, model=net)
    plain = build_method(load_config(None))
    x = torch.rand(2, 5, 1, 8, 8, generator=generator) * 3
    y = torch.tensor([0, 1, 2, 3, 4])
    outputs = {}
    with forward_hooks(spiking_layers(net), lambda n: lambda m, a, out: outputs.update({n: out})):
        net.train()
        terms = method(net, x, y)
    value = float(L1Rate()(outputs["3"].detach()))  # layer "3" only
    assert float(terms["reg_l1_rate"]) == pytest.approx(value)
    expected = float(plain(net, x, y)["loss"].detach()) + 2 * value
    assert float(terms["loss"].detach()) == pytest.approx(expected)
    assert terms["loss"].requires_grad and not terms["reg_l1_rate"].requires_grad
    net.eval()
    with torch.no_grad():
        evaluated = method(net, x, y)
        assert set(evaluated) == {"loss", "output"}
        assert torch.equal(evaluated["loss"], plain(net, x, y)["loss"])
    net.train()


class _Recorder(Method):
    """A method that records the hooks it is handed."""

    def __init__(self):
        super().__init__()
        self.calls = []
        self.scale = nn.Parameter(torch.ones(()))
        self.register_buffer("seen", torch.zeros(()))

    def forward(self, model, inputs, targets):
        out = model(inputs) * self.scale
        return {"loss": out.mean(), "output": out}

    def prepare(self, model, sample):
        self.calls.append(("prepare", sample(2).shape[1]))

    def on_epoch_start(self, epoch, epochs):
        self.calls.append(("epoch", epoch, epochs))


def test_the_wrapper_passes_the_methods_hooks_state_and_parameters_through(net):
    inner = _Recorder()
    method = Regularized(inner, check_entries([{"name": "l1_rate", "weight": 1.0}], net))
    method.prepare(net, lambda n: torch.zeros(4, n, 1, 8, 8))
    method.on_epoch_start(0, 3)
    method.on_epoch_start(0, 3)  # a run resumed mid-epoch: the same epoch again
    assert inner.calls == [("prepare", 2), ("epoch", 0, 3), ("epoch", 0, 3)]
    assert [p is inner.scale for p in method.parameters()] == [True]
    assert {"method.scale", "method.seen", "value_sums", "batches", "epoch"} == set(
        method.state_dict()
    )
    assert method.calls is inner.calls  # other attributes are the method's
    assert method.backpropagates is False
    net.train()
    method(net, torch.rand(2, 3, 1, 8, 8), torch.zeros(3, dtype=torch.long))
    assert int(method.batches) == 1
    method.on_epoch_start(1, 3)  # a new epoch starts a new mean
    assert int(method.batches) == 0 and method.epoch_values() == {}
