import pytest
import torch
from torch import nn

from spikeforge.analysis.activity import ActivityMonitor, successive_ssim
from spikeforge.layers import fold
from spikeforge.neurons import IF, LI, LIF


def constant_input(steps: int = 4, batch: int = 2) -> torch.Tensor:
    # Neuron 0 gets 1.0 (fires every step), neuron 1 gets 0 (never), neuron 2 gets 0.6
    # (IF, V_th 1, hard reset: charge 0.6, 1.2 -> fire, 0.6, 1.2 -> fire: rate 1/2).
    return torch.tensor([1.0, 0.0, 0.6]).expand(steps, batch, 3).clone()


def test_per_neuron_rates_dead_saturated_raster_and_membrane():
    net = nn.Sequential(IF(backend="torch"), LI(tau=None))
    monitor = ActivityMonitor(net)
    assert [name for name, _ in monitor.layers] == ["0"]
    with monitor.record():
        net(constant_input())
        net(constant_input(batch=3))
    torch.testing.assert_close(monitor.neuron_rates()["0"], torch.tensor([1.0, 0.0, 0.5]).double())
    assert monitor.layer_rates()["0"] == pytest.approx(0.5)
    assert monitor.dead_fraction()["0"] == pytest.approx(1 / 3)
    assert monitor.saturated_fraction()["0"] == pytest.approx(1 / 3)
    expected = torch.tensor([[1, 0, 0], [1, 0, 1], [1, 0, 0], [1, 0, 1]], dtype=torch.float64)
    torch.testing.assert_close(monitor.raster("0"), expected)
    # Membrane after reset: neuron 0 resets every step, neuron 2 alternates 0.6 / 0.
    v = torch.tensor([[0, 0, 0.6], [0, 0, 0], [0, 0, 0.6], [0, 0, 0]], dtype=torch.float64)
    torch.testing.assert_close(monitor.membrane("0"), v)
    assert monitor.summary()["0"] == {"rate": 0.5, "dead": pytest.approx(1 / 3),
                                      "saturated": pytest.approx(1 / 3)}  # fmt: skip
    assert all(not m._forward_hooks for m in net.modules())


def test_lif_membrane_trace_matches_closed_form():
    # LIF τ=2, decay_input: V[t] = V[t-1] + (0.5 - V[t-1])/2 -> V[t] = 0.5 (1 - 2^-(t+1)).
    neuron = LIF(tau=2.0, backend="torch")
    monitor = ActivityMonitor(nn.Sequential(neuron), neurons=[1], sample=1)
    with monitor.record():
        monitor.layers[0][1](torch.full((5, 2, 4), 0.5))
    t = torch.arange(5, dtype=torch.float64)
    torch.testing.assert_close(monitor.membrane("0")[:, 0], 0.5 * (1 - 2.0 ** -(t + 1)))
    assert monitor.raster("0").shape == (5, 1) and monitor.dead_fraction()["0"] == 1.0


def test_rate_maps_and_successive_ssim():
    net = nn.Sequential(
        IF(backend="torch"), fold(nn.Identity()), IF(backend="torch"), fold(nn.AvgPool2d(2))
    )
    torch.manual_seed(0)
    x = (torch.rand(6, 2, 3, 8, 8) * 2).round()  # [T, B, C, H, W]
    monitor = ActivityMonitor(net, traces=False)
    with monitor.record():
        net(x)
    maps = monitor.rate_maps()
    assert set(maps) == {"0", "2"} and maps["0"].shape == (8, 8)
    ((a, b, value),) = successive_ssim(maps)
    assert (a, b) == ("0", "2")
    assert value == pytest.approx(float(successive_ssim({"a": maps["0"], "b": maps["2"]})[0][2]))
    assert -1.0 <= value <= 1.0
    # Identical maps -> 1; a downsampled map is pooled onto the smaller grid first.
    same = successive_ssim({"x": maps["0"], "y": maps["0"].clone()})
    assert same[0][2] == pytest.approx(1.0)
    pooled = successive_ssim({"x": maps["0"], "y": nn.functional.avg_pool2d(maps["0"][None], 2)[0]})
    assert pooled[0][2] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="not been recorded"):
        ActivityMonitor(net).raster("0")


def test_validation():
    net = nn.Sequential(IF(backend="torch"))
    with pytest.raises(ValueError, match="not spiking layers"):
        ActivityMonitor(net, layers=["1"])
    monitor = ActivityMonitor(net, neurons=[7])
    with pytest.raises(ValueError, match=r"neuron indices must be in \[0, 3\)"), monitor.record():
        net(constant_input())
