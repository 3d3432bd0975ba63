"""``stdp_wta``: winner-take-all LIF dynamics with adaptive thresholds against hand values,
the homeostasis and weight normalisation rules, the readout, and the factory."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.models import MODELS, create
from spikeforge.models.stdp_wta import STDPWTA, WTALIF

f64 = torch.float64


def test_winner_take_all_by_hand():
    # tau=2: V <- V/2 + I; thresholds 1 + theta with theta = [0, 0.5]
    neuron = WTALIF(2, tau=2.0, v_th=1.0).to(f64)
    neuron.theta.copy_(torch.tensor([0.0, 0.5]))
    currents = torch.tensor(
        [
            [[0.5, 0.5], [0.0, 0.0]],  # below both thresholds: V = [0.5, 0.5]
            [[0.75, 1.25], [0.0, 0.0]],  # H = [1, 1.5]: both reach theirs exactly -> index 0
            [[0.25, 1.75], [0.0, 0.0]],  # after the reset of all: only neuron 1 reaches
            [[1.0, 2.0], [0.0, 0.0]],  # both reach: the larger margin (0.5) wins
        ],
        dtype=f64,
    )
    spikes, state = neuron.run(currents)
    expected = torch.tensor([[0, 0], [1, 0], [0, 1], [0, 1]], dtype=f64)
    assert torch.equal(spikes[:, 0], expected)
    assert torch.equal(spikes[:, 1], torch.zeros(4, 2, dtype=f64))  # silent sample
    assert torch.equal(state.v, torch.zeros(2, 2, dtype=f64))  # every membrane reset at t=3
    # steps continue the sequence exactly
    out, st = neuron.step(currents[0])
    out2, _ = neuron.step(currents[1], st)
    assert torch.equal(torch.stack([out, out2]), spikes[:2])


def test_at_most_one_spike_per_step_and_sample(generator):
    neuron = WTALIF(7, tau=5.0, v_th=0.5)
    spikes = neuron(3 * torch.rand(20, 4, 7, generator=generator))
    assert spikes.sum(-1).max() == 1 and spikes.sum() > 20
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}


def test_homeostasis_raises_thresholds_of_spiking_neurons_and_decays():
    neuron = WTALIF(3, theta_plus=0.5, theta_tau=100.0).to(f64)
    neuron.theta.copy_(torch.tensor([1.0, 0.0, 2.0]))
    spikes = torch.zeros(4, 2, 3, dtype=f64)
    spikes[0, 0, 1] = spikes[2, 1, 1] = spikes[3, 0, 0] = 1.0
    neuron.adapt(spikes)
    decay = math.exp(-2 / 100.0)  # B = 2 samples
    expected = torch.tensor([1.0 * decay + 0.5, 0.0 + 2 * 0.5, 2.0 * decay], dtype=f64)
    assert torch.allclose(neuron.theta, expected, rtol=0, atol=1e-15)


def test_weights_are_normalised_at_init_and_after_an_update():
    torch.manual_seed(0)
    net = STDPWTA(5, num_classes=3, neurons=4)
    assert torch.allclose(net.weight.sum(1), torch.full((4,), 0.5)) and (net.weight >= 0).all()
    net = STDPWTA(2, num_classes=3, neurons=2, weight_sum=2.0).double()
    net.weight.copy_(torch.tensor([[1.0, 1.0], [2.0, 0.0]]))
    net.apply_update(torch.tensor([[0.5, -1.5], [-1.0, 1.0]], dtype=f64))
    # [[1.5, -0.5], [1, 1]] -> clipped at 0 -> rows scaled to sum 2
    assert torch.allclose(net.weight, torch.tensor([[2.0, 0.0], [1.0, 1.0]], dtype=f64))
    net.apply_update(torch.tensor([[-5.0, 0.0], [0.0, 0.0]], dtype=f64))  # a dead row
    assert torch.allclose(net.weight[0], torch.tensor([1.0, 1.0], dtype=f64))
    with pytest.raises(ValueError, match="shape"):
        net.apply_update(torch.zeros(3, 2))


def test_forward_is_the_readout_of_the_wta_spikes(generator):
    torch.manual_seed(0)
    net = create("stdp_wta", num_classes=3, in_channels=1, input_size=4, neurons=6,
                 neuron_kwargs={"v_th": 0.5})  # fmt: skip
    x = (torch.rand(10, 2, 1, 4, 4, generator=generator) < 0.5).float()
    spikes = net.forward_features(x)
    assert spikes.shape == (10, 2, 6) and spikes.sum() > 0
    assert torch.equal(spikes, net.excitatory(x.flatten(2) @ net.weight.T))
    assert torch.equal(net(x), torch.zeros(10, 2, 3))  # no readout fitted yet
    with torch.no_grad():
        net.readout.weight.copy_(torch.randn(3, 6, generator=generator))
        net.readout.bias.copy_(torch.randn(3, generator=generator))
    expected = spikes.mean(0) @ net.readout.weight.T + net.readout.bias
    assert torch.allclose(net(x).mean(0), expected, atol=1e-6)
    with pytest.raises(ValueError, match="16 features"):
        net(torch.zeros(2, 2, 15))
    with pytest.raises(ValueError, match="NaN"):
        net(torch.full((2, 1, 16), float("nan")))


def test_state_dict_holds_weights_thresholds_and_readout_and_nothing_is_differentiated():
    net = create("stdp_wta", num_classes=3, in_features=5, neurons=4)
    assert set(net.state_dict()) == {
        "weight",
        "excitatory.theta",
        "readout.weight",
        "readout.bias",
    }
    assert not any(p.requires_grad for p in net.parameters())


def test_the_factory_sizes_the_input_and_owns_its_neurons():
    assert "stdp_wta" in MODELS.names()
    net = create("stdp_wta", num_classes=10, in_channels=1, input_size=8, surrogate="atan",
                 neuron_kwargs={"tau": 5.0, "v_th": 3.0, "theta_plus": 0.1})  # fmt: skip
    assert net.in_features == 64 and net.neurons == 100 and net.weight_sum == pytest.approx(6.4)
    assert (net.excitatory.tau, net.excitatory.v_th, net.excitatory.theta_plus) == (5.0, 3.0, 0.1)
    assert create("stdp_wta", in_channels=2, input_size=(3, 4)).in_features == 24
    with pytest.raises(ValueError, match="model.neuron must be lif"):
        create("stdp_wta", neuron="plif")
    with pytest.raises(ValueError, match="tau"):
        create("stdp_wta", neuron_kwargs={"tau": 1.0})
    with pytest.raises(ValueError, match="weight_sum"):
        create("stdp_wta", weight_sum=0.0)
