import math

import pytest
import torch

from spikeforge.methods.conversion import ConvertedIF, SpikingMaxPool
from spikeforge.methods.conversion.neurons import ANALOG, TimeContext


def _run(neuron: ConvertedIF, seq: torch.Tensor) -> torch.Tensor:
    neuron.context = TimeContext(steps=seq.shape[0])
    return neuron(seq.flatten(0, 1)).unflatten(0, seq.shape[:2])


@pytest.mark.parametrize("rate", [0.0, 0.37, 0.61, 0.93])
def test_soft_reset_counts_match_rate_coding_with_half_threshold_start(rate):
    scale, steps = 2.0, 50
    neuron = ConvertedIF(scale, initial_membrane=0.5)
    out = _run(neuron, torch.full((steps, 1, 1), rate * scale))
    spikes = out / scale
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}  # binary spikes carrying λ each
    # V0 = λ/2, soft reset: after T steps N = floor(T·a/λ + 1/2) spikes (rounding, not floor)
    assert int(spikes.sum()) == math.floor(steps * rate + 0.5)


def test_per_channel_thresholds_broadcast_over_conv_and_linear_inputs():
    neuron = ConvertedIF(torch.tensor([1.0, 2.0, 4.0]))
    out = _run(neuron, torch.full((8, 2, 3, 4, 4), 1.0))
    rates = (out.mean(0) / torch.tensor([1.0, 2.0, 4.0]).view(3, 1, 1))[0, :, 0, 0]
    torch.testing.assert_close(rates, torch.tensor([1.0, 0.5, 0.25]))
    assert _run(neuron, torch.ones(4, 2, 3)).shape == (4, 2, 3)


def test_analog_mode_is_a_relu_and_feeds_observers():
    neuron = ConvertedIF(3.0)
    seen = []
    neuron.context = TimeContext(mode=ANALOG, observers={"": seen.append})
    x = torch.randn(4, 5)
    torch.testing.assert_close(neuron(x), torch.relu(x))
    torch.testing.assert_close(seen[0], torch.relu(x))


def test_converted_if_validates_its_options():
    with pytest.raises(ValueError, match="positive scalar or \\[C\\]"):
        ConvertedIF(torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="initial_membrane"):
        ConvertedIF(1.0, initial_membrane=1.0)
    with pytest.raises(TypeError, match="sets 'reset' itself"):
        ConvertedIF(1.0, reset="zero")
    neuron = ConvertedIF(1.0)
    neuron.context = TimeContext(steps=3)
    with pytest.raises(ValueError, match="not a multiple of T=3"):
        neuron(torch.ones(4, 2))


def test_spiking_max_pool_passes_the_most_active_input():
    pool = SpikingMaxPool(2)
    steps = 40
    rates = torch.tensor([0.2, 0.7, 0.5, 0.1]).view(1, 1, 2, 2)
    t = torch.arange(1, steps + 1, dtype=torch.float32).view(steps, 1, 1, 1, 1)
    spikes = torch.floor(t * rates) - torch.floor((t - 1) * rates)  # regular spike trains
    pool.context = TimeContext(steps=steps)
    out = pool(spikes.flatten(0, 1)).unflatten(0, (steps, 1))
    assert out.shape == (steps, 1, 1, 1, 1)
    assert abs(float(out.mean()) - 0.7) < 0.05
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        pool(torch.ones(4, 4))


def test_converted_if_refuses_non_finite_thresholds():
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="scale \\(V_th\\) must be finite"):
            ConvertedIF(torch.tensor([1.0, bad]))
        neuron = ConvertedIF(torch.ones(2))
        neuron.site = "layers.1"
        with pytest.raises(ValueError, match="scale \\(V_th\\) of neuron site 'layers.1' must be"):
            neuron.set_scale(torch.tensor([bad, 1.0]))
        with pytest.raises(ValueError, match="positive scalar or \\[C\\]"):
            neuron.set_scale(torch.tensor([0.0, 1.0]))
        assert torch.equal(neuron.scale, torch.ones(2))  # unchanged
