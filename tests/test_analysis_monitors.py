import pytest
import torch
from torch import nn

from spikeforge.analysis import FiringRateMonitor, spiking_layers
from spikeforge.analysis.monitors import unwrap_model
from spikeforge.layers import fold
from spikeforge.neurons import IF, LI


def test_rates_equal_hand_count_and_exclude_readout():
    net = nn.Sequential(IF(), fold(nn.Identity()), IF(v_th=2.5), LI(tau=None))
    assert [name for name, _ in spiking_layers(net)] == ["0", "2"]
    # IF with V_th=1 on a constant 1.0 fires every step; second IF (V_th 2.5) fires at
    # t=2 (cumulative 3 >= 2.5, hard reset) then t=5 -> 2 spikes in 6 steps.
    x = torch.ones(6, 2, 4)
    monitor = FiringRateMonitor(net)
    with monitor.record():
        net(x)
    rates = monitor.rates()
    assert rates["0"] == 1.0
    assert rates["2"] == pytest.approx(2 / 6)
    net(x)  # outside the context: not recorded
    assert monitor.rates()["0"] == 1.0
    assert all(not m._forward_hooks for m in net.modules())


def test_names_are_qualified_module_names_without_wrapper_prefixes():
    net = nn.Sequential(fold(nn.Identity()), nn.Sequential(IF(), LI(tau=None)))
    assert [name for name, _ in spiking_layers(net)] == ["1.0"]
    assert "1.0" in dict(net.named_modules())
    for wrapper in (nn.DataParallel(net), nn.DataParallel(nn.DataParallel(net))):
        assert unwrap_model(wrapper) is net
        assert [name for name, _ in spiking_layers(wrapper)] == ["1.0"]
        monitor = FiringRateMonitor(wrapper)
        with monitor.record():
            wrapper(torch.ones(3, 2, 4))
        assert list(monitor.rates()) == ["1.0"] and monitor.rates()["1.0"] == 1.0


def test_stateless_spike_functions_that_say_so_are_spiking_layers():
    """T-RevSNN's Q (``emits_spikes = True``, called per step on ``[B, ...]``) counts in
    firing rates and energy's firing rate; the activity monitor, which reads a time axis
    and replays a neuron's state, keeps to the neurons."""
    from spikeforge.analysis import ActivityMonitor
    from spikeforge.analysis.inference import measure_inference
    from spikeforge.models import create
    from spikeforge.models.trevsnn import SpikeQ

    net = nn.Sequential(nn.Identity(), SpikeQ(), nn.Flatten(), IF())
    assert [name for name, _ in spiking_layers(net)] == ["1", "3"]
    x = torch.tensor([[0.2, 0.7, 0.5, 1.3]])  # Q fires at >= 0.5: 3 of 4
    monitor = FiringRateMonitor(net)
    with monitor.record():
        net[1](x)
    assert monitor.rates()["1"] == pytest.approx(0.75)
    assert [name for name, _ in ActivityMonitor(net).layers] == ["3"]
    torch.manual_seed(0)
    trev = create("trevsnn_cifar", num_classes=10, in_channels=1, timesteps=2)
    measured = measure_inference(trev, torch.rand(2, 3, 1, 8, 8))
    assert 0 < measured["firing_rate"] < 1  # None before: no layer counted
