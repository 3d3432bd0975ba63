"""``train.method=stdp``: one learning step on a hand-built case equals pair STDP (the rule
of ``stdp_update``, summed pair by pair here) on the winner-take-all spikes, then the
normalisation and homeostasis; weights stay normalised; the readout is the ridge solution;
the epoch schedule; and through the engine: a short digits run from the shipped config
trains and evaluates (``spikeforge train`` / ``spikeforge eval``) and resumes bit-exactly."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from spikeforge.cli import main
from spikeforge.engine.checkpoint import load_checkpoint
from spikeforge.engine.config import load_config
from spikeforge.engine.run import evaluate_checkpoint, make_trainer
from spikeforge.methods import METHODS, STDPTraining, stdp_update
from spikeforge.models import create

f64 = torch.float64


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """Tiny tensors: one thread is faster and leaves the other core to other tests."""


def hand_net() -> nn.Module:
    """3 inputs, 2 neurons (tau=2: V <- V/2 + I, threshold 0.5), rows summing to 1."""
    net = create("stdp_wta", num_classes=2, in_features=3, neurons=2, weight_sum=1.0,
                 neuron_kwargs={"tau": 2.0, "v_th": 0.5, "theta_plus": 0.25,
                                "theta_tau": 10.0}).double()  # fmt: skip
    net.weight.copy_(torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.3, 0.6]]))
    return net


def pair_sum(pre, post, tau_pre, tau_post, a_plus, a_minus):
    """``ΔW_ji = A₊ Σ_{t_pre ≤ t_post} λ₊^Δ − A₋ Σ_{t_post < t_pre} λ₋^Δ``, mean over B."""
    lp, lq = math.exp(-1 / tau_pre), math.exp(-1 / tau_post)
    _, B, inputs = pre.shape
    dw = torch.zeros(post.shape[2], inputs, dtype=f64)
    for b in range(B):
        for j in range(post.shape[2]):
            for i in range(inputs):
                for tq in post[:, b, j].nonzero().flatten().tolist():
                    for tp in pre[:, b, i].nonzero().flatten().tolist():
                        if tp <= tq:
                            dw[j, i] += a_plus * lp ** (tq - tp)
                        else:
                            dw[j, i] -= a_minus * lq ** (tp - tq)
    return dw / B


OPTIONS = {"tau_pre": 3.0, "tau_post": 5.0, "a_plus": 0.2, "a_minus": 0.1}


def test_one_learning_step_by_hand_is_pair_stdp_on_the_winner_take_all_spikes():
    net = hand_net()
    method = STDPTraining(**OPTIONS).double()
    method.prepare(net, None)
    pre = torch.tensor([[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1]], dtype=f64)[:, None]
    # W x per step: [.6,.1] -> 0 fires (all reset); [.1,.6] -> 1 fires; [.3,.3] -> none
    # (V = [.3,.3]); H = [.15+.4, .15+.9] -> both reach, 1 has the larger margin
    post = torch.tensor([[1, 0], [0, 1], [0, 0], [0, 1]], dtype=f64)[:, None]
    assert torch.equal(net.forward_features(pre), post)
    before = net.weight.clone()
    expected_dw = pair_sum(pre, post, **OPTIONS)
    assert torch.allclose(stdp_update(pre, post, **OPTIONS), expected_dw)
    assert torch.allclose(method.weight_update(pre, post), expected_dw)
    with torch.enable_grad():  # training: the engine's loop runs with autograd on
        terms = method(net, pre, torch.tensor([1]))
    w = (before + expected_dw).clamp(min=0)
    assert torch.allclose(net.weight, w / w.sum(1, keepdim=True), rtol=0, atol=1e-12)
    # homeostasis: theta = 0 * e^{-1/10} + 0.25 * (spike counts [1, 2])
    assert torch.allclose(net.excitatory.theta, torch.tensor([0.25, 0.5], dtype=f64))
    assert terms["output"].shape == (4, 1, 2) and not terms["loss"].requires_grad
    # the features of the step before the update went into the readout's sums
    assert int(method.samples) == 1
    assert torch.allclose(
        method.gram[:2, :2], torch.tensor([[1 / 16, 1 / 8], [1 / 8, 1 / 4]], dtype=f64)
    )


def _batches(n, generator, T=12, B=8, classes=3):
    for _ in range(n):
        x = (torch.rand(T, B, 1, 4, 4, generator=generator) < 0.4).float()
        yield x, torch.randint(0, classes, (B,), generator=generator)


def _net(neurons=6):
    torch.manual_seed(0)
    return create("stdp_wta", num_classes=3, in_channels=1, input_size=4, neurons=neurons,
                  neuron_kwargs={"v_th": 1.0, "theta_plus": 0.1})  # fmt: skip


def test_weights_stay_non_negative_and_normalised_while_learning(generator):
    net, method = _net(), STDPTraining(a_plus=0.5, a_minus=0.4)
    method.prepare(net, None)
    start = net.weight.clone()
    with torch.enable_grad():
        for x, y in _batches(10, generator):
            method(net, x, y)
            assert (net.weight >= 0).all()
            assert torch.allclose(net.weight.sum(1), torch.full((6,), 1.6), atol=1e-5)
    assert not torch.allclose(net.weight, start)
    assert (net.excitatory.theta > 0).any()


def test_the_readout_is_the_ridge_solution_on_the_spike_counts(generator):
    net, method = _net(), STDPTraining(learn=False, ridge=0.01)
    method.prepare(net, None)
    features, labels = [], []
    with torch.enable_grad():
        for x, y in _batches(4, generator):
            features.append(net.forward_features(x).mean(0))
            labels.append(y)
            method(net, x, y)
    X = torch.cat([torch.cat(features), torch.ones(32, 1)], 1).double()
    Y = nn.functional.one_hot(torch.cat(labels), 3).double()
    penalty = torch.diag(torch.tensor([0.01 * 32] * 6 + [0.0], dtype=f64))
    coef = torch.linalg.solve(X.T @ X + penalty, X.T @ Y)
    assert torch.allclose(net.readout.weight.double(), coef[:-1].T, atol=1e-5)
    assert torch.allclose(net.readout.bias.double(), coef[-1], atol=1e-5)


def test_no_learning_without_learn_nor_in_the_readout_epochs_nor_at_evaluation(generator):
    net, method = _net(), STDPTraining(learn=False)
    method.prepare(net, None)
    state = {k: v.clone() for k, v in net.state_dict().items() if "readout" not in k}
    x, y = next(_batches(1, generator))
    with torch.enable_grad():
        method(net, x, y)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())
    assert net.readout.weight.abs().sum() > 0
    method = STDPTraining(readout_epochs=2)
    method.prepare(net, None)
    method.on_epoch_start(2, 4)  # epochs 2 and 3 only fit the readout
    with torch.enable_grad():
        method(net, x, y)
    with torch.no_grad():
        assert torch.equal(method(net, x, y)["output"], net(x))  # evaluation: the model only
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())


def test_the_epoch_schedule_restarts_the_sums_only_for_a_new_epoch(generator):
    net, method = _net(), STDPTraining(readout_epochs=1, anneal=True)
    method.prepare(net, None)
    method.on_epoch_start(0, 3)
    assert method.learning and method.rate == 1.0
    x, y = next(_batches(1, generator))
    with torch.enable_grad():
        method(net, x, y)
    method.on_epoch_start(0, 3)  # a run resumed inside epoch 0 keeps its sums
    assert int(method.samples) == 8
    method.on_epoch_start(1, 3)
    assert method.learning and method.rate == 0.5 and int(method.samples) == 0
    method.on_epoch_start(2, 3)
    assert not method.learning and method.rate == 1.0


def test_bad_models_and_options_are_refused():
    method = STDPTraining()
    with pytest.raises(ValueError, match="needs model stdp_wta"):
        method.prepare(nn.Linear(2, 2), None)
    with pytest.raises(ValueError, match="readout_epochs"):
        STDPTraining(readout_epochs=0)
    with pytest.raises(ValueError, match=">= 0"):
        STDPTraining(a_minus=-1.0)
    with pytest.raises(ValueError, match="ridge"):
        STDPTraining(ridge=0.0)
    with pytest.raises(TypeError):
        METHODS.create("stdp", seed=1)  # it draws nothing: the model's init is seeded
    assert METHODS.get("stdp") is STDPTraining and STDPTraining.backpropagates


TINY = ["model.kwargs.neurons=30", "data.timesteps=12", "train.epochs=2", "train.progress=false",
        "train.tensorboard=false"]  # fmt: skip


def test_a_short_digits_run_from_the_config_trains_and_evaluates(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--config", "digits_stdp", *TINY, f"train.run_dir={tmp_path}",
            "train.run_name=run"]  # fmt: skip
    assert main(args) == 0
    assert "final test accuracy" in capsys.readouterr().out
    history = load_checkpoint(run / "last.pt")["history"]
    assert len(history) == 2 and history[-1]["test_acc"] > 0.5  # chance: 0.1
    assert 0 < history[-1]["firing_rates"]["excitatory"] < 1
    assert main(["eval", "--checkpoint", str(run / "last.pt")]) == 0
    assert f"test accuracy {history[-1]['test_acc']:.4f}" in capsys.readouterr().out
    assert evaluate_checkpoint(run / "last.pt")["accuracy"] == history[-1]["test_acc"]
    state = load_checkpoint(run / "last.pt")["model"]
    assert {"weight", "excitatory.theta", "readout.weight", "readout.bias"} <= set(state)


def test_an_interrupted_run_resumes_bit_exactly(tmp_path):
    def config(*extra):
        return load_config("digits_stdp", [*TINY, *extra])

    whole = make_trainer(config(), tmp_path / "whole")
    whole.fit()
    # stopped after step 10 of the 90 of epoch 1: last.pt is written there, mid-epoch,
    # with the readout's sums of those 10 batches
    broken = make_trainer(config("train.max_steps=10"), tmp_path / "broken")
    broken.fit()
    payload = load_checkpoint(tmp_path / "broken" / "last.pt")
    assert payload["position"]["step"] == 10 and int(payload["method"]["samples"]) == 160
    resumed = make_trainer(config(), tmp_path / "broken")
    resumed.fit(resume=True)
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    for name, tensor in whole.method.state_dict().items():
        assert torch.equal(tensor, resumed.method.state_dict()[name]), name

    def timeless(history):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in history]

    assert timeless(resumed.history) == timeless(whole.history)
