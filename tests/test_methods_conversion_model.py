"""The converted network (``methods/conversion/model.py``): a hand-built body with one IF
site, run over time against a hand simulation, its accumulated-membrane readout,
streaming, analog mode and the input checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.methods.conversion import ConvertedIF, ConvertedSNN
from spikeforge.methods.conversion.neurons import ANALOG, SPIKING


def _linear(w: float) -> nn.Linear:
    layer = nn.Linear(1, 1)
    with torch.no_grad():
        layer.weight.fill_(w)
        layer.bias.zero_()
    return layer


def _net(scale: float = 1.0) -> ConvertedSNN:
    """x -> 1·x -> IF (V_th = scale, V starts at V_th/2) -> 2·s."""
    body = nn.Sequential(_linear(1.0), ConvertedIF(scale), _linear(2.0))
    return ConvertedSNN(body, {"neuron": "if", "nested": {"skip": 1}})


def test_the_body_sites_share_the_networks_time_context():
    snn = _net()
    assert list(snn.neurons()) == ["1"]
    neuron = snn.neurons()["1"]
    assert neuron.context is snn.context and neuron.site == "1"


def test_spikes_carry_lambda_and_the_output_is_the_last_layers_current_by_hand():
    snn = _net(scale=0.5)
    x = torch.full((5, 1, 1), 0.15)  # [T, B, 1]
    # V in units of V_th = 0.5 starts at 0.5; input 0.15 / 0.5 = 0.3 per step:
    # 0.8, 1.1 (fire, 0.1), 0.4, 0.7, 1.0 (fire at equality, 0.0); spikes carry λ = 0.5
    expected = torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0]) * 0.5 * 2.0
    with torch.no_grad():
        out = snn(x)
        assert out.shape == (5, 1, 1)
        torch.testing.assert_close(out.flatten(), expected)
        # the readout: V[t] = sum of z[k] for k <= t, so mean over T = V[T] / T
        membrane = snn.membrane(x)
        torch.testing.assert_close(membrane, torch.cumsum(out, 0))
        torch.testing.assert_close(out.mean(0), membrane[-1] / 5)


def test_streaming_in_pieces_equals_one_call_from_rest():
    torch.manual_seed(0)
    body = nn.Sequential(nn.Linear(3, 4), ConvertedIF(0.7), nn.Linear(4, 2))
    snn = ConvertedSNN(body)
    x = torch.rand(9, 2, 3)
    with torch.no_grad():
        whole = snn(x)
        first, state = snn.run(x[:4])
        second, final = snn.run(x[4:], state)
        torch.testing.assert_close(torch.cat([first, second]), whole)
        assert set(state) == set(final) == {"1"}
        again, _ = snn.run(x[:4])  # no state: from rest again
        torch.testing.assert_close(again, first)
    assert snn.context.streaming is False and snn.context.mode == SPIKING


def test_analog_mode_is_the_relu_network_and_is_left_afterwards():
    snn = _net()
    x = torch.tensor([[0.3], [-0.4]])
    with torch.no_grad():
        torch.testing.assert_close(snn.analog(x), torch.tensor([[0.6], [0.0]]))
    assert snn.context.mode == SPIKING
    snn.context.mode = ANALOG
    with pytest.raises(RuntimeError):
        snn.analog(torch.zeros(2, 5))  # the linear layer refuses 5 features
    assert snn.context.mode == ANALOG  # the mode before the call, also after an error


def test_thresholds_are_copies_of_each_sites_lambda():
    snn = _net(scale=0.25)
    thresholds = snn.thresholds()
    assert thresholds == {"1": torch.tensor(0.25)}
    thresholds["1"] += 1.0
    assert float(snn.neurons()["1"].scale) == 0.25


def test_input_checks_name_the_expected_shape():
    snn = _net()
    with pytest.raises(ValueError, match="ConvertedSNN input"):
        snn(torch.zeros(4, 1))  # no time axis
    snn.info["sample_dims"] = 1  # the ANN took [B, 1]: the SNN takes [T, B, 1]
    with pytest.raises(
        ValueError, match=r"must be \[T, B, \.\.\.\] with 3 dims .* got shape \(2, 1, 1, 1\)"
    ):
        snn(torch.zeros(2, 1, 1, 1))
    assert snn(torch.zeros(2, 1, 1)).shape == (2, 1, 1)


def test_extra_repr_lists_the_plain_info():
    text = repr(_net())
    assert "neuron=if" in text and "nested" not in text
