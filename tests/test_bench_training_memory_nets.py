"""``bench/training_memory_nets.py``: the benchmark's networks have the same layers in every
library, the LIF is parametrised to the same dynamics in each, unavailable rows raise a
clear error, and the memory modes are looked up as the trainer applies them."""

import sys
from contextlib import nullcontext

import pytest
import torch
from torch import nn

from spikeforge.bench import training_memory_nets as nets
from spikeforge.neurons import LIF
from spikeforge.neurons.base import SpikingNeuron

spikingjelly = pytest.importorskip("spikingjelly.activation_based.neuron")
snntorch = pytest.importorskip("snntorch")


def _params(subject):
    return sum(p.numel() for p in subject.model.parameters())


def test_two_conv_has_the_hand_counted_parameters_in_every_library():
    # conv1 3·64·9, BN1 2·64, conv2 64·128·9, BN2 2·128, fc (128·(8/4)²)·10 + 10
    expected = 3 * 64 * 9 + 2 * 64 + 64 * 128 * 9 + 2 * 128 + 128 * 4 * 10 + 10
    for impl in nets.IMPLS:
        subject = nets.build("two_conv", impl, 8)
        assert _params(subject) == expected, impl
        out = subject.forward(torch.rand(3, 2, 3, 8, 8), nullcontext)
        assert out.shape == (3, 2, nets.NUM_CLASSES), impl


def test_sew_resnet18_has_the_same_shapes_in_every_library_and_leaves_no_stand_in():
    before = sys.modules.get("torchvision")
    counts = {impl: _params(nets.build("sew_resnet18", impl, 8)) for impl in ("spikeforge",)}
    counts["spikingjelly"] = _params(nets.build("sew_resnet18", "spikingjelly", 8))
    counts["relu"] = _params(nets.build("sew_resnet18", "relu", 8))
    assert len(set(counts.values())) == 1 and counts["relu"] > 11_000_000
    assert sys.modules.get("torchvision") is before  # the stand-in is gone again
    relu = nets.build("sew_resnet18", "relu", 8).model
    assert not any(isinstance(m, SpikingNeuron) for m in relu.modules())
    assert sum(isinstance(m, nn.ReLU) for m in relu.modules()) == 17  # stem + 2 per block


def _current(steps=8, n=500):
    torch.manual_seed(3)
    return (torch.rand(steps, 1, n) * 2.2).double()  # enough drive to fire and reset


def test_the_three_lifs_fire_the_same_spikes():
    x = _current()
    ours = LIF(**nets.LIF_OPTIONS, backend="torch")(x)
    from spikingjelly.activation_based import neuron, surrogate

    sj = neuron.LIFNode(**nets._sj_lif(surrogate), step_mode="m")(x)
    model = nets.SnnTorchTwoConv(snntorch, pytest.importorskip("snntorch.surrogate"), 4)
    mem, spikes = torch.zeros_like(x[0]), []
    for x_t in x:
        spk, mem = model.lif1(x_t, mem)
        spikes.append(spk)
    sn = torch.stack(spikes)
    assert 0.2 < ours.mean() < 0.8  # a real test of the reset, not a silent layer
    assert torch.equal(ours, sj) and torch.equal(ours, sn.to(ours.dtype))


def test_the_surrogate_gradient_to_the_input_current_is_the_same_in_all_three():
    # one step: no reset path, so all three give the same d spike / d current exactly
    x = _current(steps=1).requires_grad_(True)
    from spikingjelly.activation_based import neuron, surrogate

    grads = []
    model = nets.SnnTorchTwoConv(snntorch, pytest.importorskip("snntorch.surrogate"), 4)
    layers = [
        LIF(**nets.LIF_OPTIONS, backend="torch"),
        neuron.LIFNode(**nets._sj_lif(surrogate), step_mode="m"),
        lambda v: model.lif1(v[0], torch.zeros_like(v[0]))[0].unsqueeze(0),
    ]
    for layer in layers:
        (g,) = torch.autograd.grad(layer(x).sum(), x)
        grads.append(g)
    # by hand: σ'(H - 1) · ∂H/∂X with H = X/τ, σ'(u) = α/2 / (1 + (π α u / 2)²)
    h = x.detach() / nets.TAU
    hand = nets.ALPHA / 2 / (1 + (torch.pi * nets.ALPHA * (h - nets.V_TH) / 2) ** 2) / nets.TAU
    for g in grads:
        torch.testing.assert_close(g, hand, rtol=1e-12, atol=1e-12)


def test_our_two_conv_and_spikingjellys_compute_the_same_step():
    torch.manual_seed(0)
    ours, sj = nets.build("two_conv", "spikeforge", 8), nets.build("two_conv", "spikingjelly", 8)
    with torch.no_grad():
        for a, b in zip(ours.model.parameters(), sj.model.parameters(), strict=True):
            b.copy_(a)
    x = torch.rand(4, 3, 3, 8, 8) * 3
    a, b = ours.forward(x, nullcontext), sj.forward(x, nullcontext)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    a.sum().backward()
    b.sum().backward()
    first = next(ours.model.parameters()).grad
    assert first.abs().sum() > 0
    torch.testing.assert_close(first, next(sj.model.parameters()).grad, rtol=1e-3, atol=1e-4)


def test_the_relu_net_runs_once_on_the_t_times_b_images():
    subject = nets.build("two_conv", "relu", 8)
    x = torch.rand(3, 2, 3, 8, 8)
    expected = subject.model(x.flatten(0, 1)).unflatten(0, (3, 2))
    assert torch.equal(subject.forward(x, nullcontext), expected)


def test_release_drops_what_a_peer_keeps_between_calls():
    subject = nets.build("two_conv", "snntorch", 8)
    subject.forward(torch.rand(2, 1, 3, 8, 8), nullcontext)
    assert subject.model.lif1.mem.grad_fn is not None  # the last membrane holds the graph
    subject.release()
    assert subject.model.lif1.mem.numel() == 0


def test_a_missing_peer_raises_unavailable_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "snntorch", None)
    with pytest.raises(nets.UnavailableError, match="snntorch cannot be imported"):
        nets.build("two_conv", "snntorch", 8)
    with pytest.raises(nets.UnavailableError, match="no snnTorch sew_resnet18"):
        nets.build("sew_resnet18", "snntorch", 8)


def test_bad_arguments_name_what_was_expected():
    with pytest.raises(ValueError, match="net must be one of two_conv, sew_resnet18, got 'x'"):
        nets.build("x", "relu", 8)
    with pytest.raises(ValueError, match="implementation must be one of .*got 'jax'"):
        nets.build("two_conv", "jax", 8)
    with pytest.raises(ValueError, match="spikeforge rows only, got relu/compact"):
        nets.build("two_conv", "relu", 8, "compact")
    with pytest.raises(ValueError, match="divisible by 4 .*got 10"):
        nets.build("two_conv", "spikeforge", 10)
    with pytest.raises(ValueError, match="memory mode must be one of full, compact, checkpoint"):
        nets.memory_context(nn.Linear(1, 1), "half")


def test_memory_modes_are_plain_autograd_or_unavailable_when_missing(monkeypatch):
    model = nets.spikeforge_two_conv(8)
    assert nets.memory_context(model, "full") is nullcontext
    monkeypatch.setitem(sys.modules, "spikeforge.layers.recompute", None)
    with pytest.raises(nets.UnavailableError, match="spikeforge.layers.recompute"):
        nets.memory_context(model, "compact")


def test_the_memory_modes_run_as_the_trainer_applies_them():
    """Each mode's subject computes the same step as ``full`` and keeps less for backward
    (what ``memory_mode`` promises; here only that the benchmark really applies it)."""
    pytest.importorskip("spikeforge.layers.memory")
    from spikeforge.bench.training_memory import saved_bytes

    x = torch.rand(2, 4, 3, 8, 8) * 3
    got = {}
    for mode in nets.MEMORY_MODES:
        torch.manual_seed(0)
        subject = nets.build("two_conv", "spikeforge", 8, mode)
        params = list(subject.model.parameters())
        out = subject.forward(x, nullcontext)
        out.square().sum().backward()
        saved = saved_bytes(lambda inner, s=subject: s.forward(x, inner), params)
        got[mode] = (out.detach(), params[0].grad, saved)
    for mode in ("compact", "checkpoint"):
        assert torch.equal(got[mode][0], got["full"][0])
        assert torch.equal(got[mode][1], got["full"][1])  # bit-identical weight gradient
    assert got["checkpoint"][2] < got["compact"][2] < got["full"][2]
