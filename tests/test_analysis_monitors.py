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
