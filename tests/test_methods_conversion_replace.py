"""Swapping ANN operations for spiking ones (``methods/conversion/replace.py``): one neuron
per ReLU call site, max-pools to average pools (one warning naming them) or spiking max
pools, dropout removed; on a traced graph and by module walk."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeforge.methods.conversion import SpikingMaxPool
from spikeforge.methods.conversion.replace import replace_graph, replace_modules
from spikeforge.methods.conversion.trace import trace


class Neuron(nn.Module):
    """A stand-in neuron: ReLU times 10, so the rewritten graph shows where it sits."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 10 * F.relu(x)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 4), nn.Linear(4, 4)
        self.shared = nn.ReLU()
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.shared(self.fc1(x))
        h = self.shared(self.fc2(h))  # the same ReLU module at a second call site
        h = F.dropout(self.drop(h), 0.5, training=True)
        return torch.relu(h) + h.relu()


def _rewritten(model: nn.Module, maxpool: str = "avg"):
    gm, reason = trace(model)
    assert reason is None
    return gm, replace_graph(gm, Neuron, maxpool)


def test_every_relu_call_site_gets_its_own_neuron_and_dropout_goes():
    torch.manual_seed(0)
    model = Net().eval()
    gm, names = _rewritten(model)
    assert names == ["shared", "shared_1", "relu_if", "relu_1_if"]
    assert all(isinstance(gm.get_submodule(n), Neuron) for n in names)
    ops = {(n.op, str(n.target)) for n in gm.graph.nodes}
    assert not any("dropout" in target for _, target in ops)
    # by hand: each ReLU is now 10·ReLU, dropout is the identity (even F.dropout in training)
    x = torch.randn(3, 4)
    h = 10 * F.relu(model.fc1(x))
    h = 10 * F.relu(model.fc2(h))
    torch.testing.assert_close(gm(x), 10 * F.relu(h) + 10 * F.relu(h))


class Pooled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(self.pool(x), 2)


def test_max_pools_become_average_pools_with_their_settings_and_one_warning():
    with pytest.warns(UserWarning, match="max-pooling converted to average pooling at ") as record:
        gm, names = _rewritten(Pooled())
    assert names == [] and len(record) == 1
    assert "pool (" in str(record[0].message) and "node 'max_pool2d'" in str(record[0].message)
    pool = gm.get_submodule("pool")
    assert isinstance(pool, nn.AvgPool2d)
    assert (pool.kernel_size, pool.stride, pool.padding, pool.ceil_mode) == (3, 2, 1, True)
    assert pool.count_include_pad is False
    functional = gm.get_submodule("max_pool2d_pool")
    assert isinstance(functional, nn.AvgPool2d)
    assert (functional.kernel_size, functional.stride) == (2, 2)  # stride None -> the kernel
    x = torch.rand(1, 1, 7, 7)
    expected = F.avg_pool2d(F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), 2)
    torch.testing.assert_close(gm(x), expected)


def test_spiking_max_pools_for_two_dimensional_pools_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm, _ = _rewritten(Pooled(), "spiking")
    assert isinstance(gm.get_submodule("pool"), SpikingMaxPool)
    assert isinstance(gm.get_submodule("max_pool2d_pool"), SpikingMaxPool)

    class OneD(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool = nn.MaxPool1d(2)

        def forward(self, x):
            return self.pool(x)

    with pytest.warns(UserWarning, match="average pooling at pool"):
        gm, _ = _rewritten(OneD(), "spiking")  # 1-D: no spiking max pool, averaged
    assert isinstance(gm.get_submodule("pool"), nn.AvgPool1d)


def test_the_module_walk_replaces_leaf_modules_only():
    model = nn.Sequential(
        nn.Linear(4, 4),
        nn.ReLU(),
        nn.Sequential(nn.Dropout2d(0.2), nn.ReLU(), nn.MaxPool1d(2, stride=1)),
    )
    with pytest.warns(UserWarning, match=r"average pooling at 2\.2"):
        names = replace_modules(model, Neuron)
    assert names == ["1", "2.1"]
    assert isinstance(model[1], Neuron) and isinstance(model[2][1], Neuron)
    assert isinstance(model[2][0], nn.Identity)
    pool = model[2][2]
    assert isinstance(pool, nn.AvgPool1d) and (pool.kernel_size, pool.stride) == ((2,), (1,))
