"""BPTT vs temporal-paths-dropped gradient similarity (the T-RevSNN analysis)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeforge.bench.temporal_gradients import temporal_gradient_similarity
from spikeforge.layers import fold
from spikeforge.methods import SLTT
from spikeforge.neurons import LI, LIF, SlidingPSN


def _data():
    g = torch.Generator().manual_seed(0)
    return 12.0 * torch.rand(8, 5, 6, generator=g, dtype=torch.float64), torch.tensor(
        [0, 1, 2, 1, 0]
    )


def test_a_model_without_memory_has_identical_gradients():
    torch.manual_seed(0)
    net = nn.Sequential(fold(nn.Linear(6, 12)), SlidingPSN(k=1), fold(nn.Linear(12, 3))).double()
    x, y = _data()
    result = temporal_gradient_similarity(net, x, y)
    assert result["overall"] == pytest.approx(1.0, abs=1e-12)
    assert set(result["per_parameter"]) == {n for n, _ in net.named_parameters()}


def test_with_leaky_neurons_it_is_the_cosine_of_the_two_gradients():
    torch.manual_seed(0)
    net = nn.Sequential(fold(nn.Linear(6, 12)), LIF(tau=8.0), fold(nn.Linear(12, 3)), LI(tau=8.0))
    net = net.double().eval()
    x, y = _data()
    result = temporal_gradient_similarity(net, x, y)
    assert not net.training and all(p.grad is None for p in net.parameters())
    # by hand: BPTT through the whole sequence, then SLTT step by step
    torch.stack([F.cross_entropy(o, y) for o in net(x)]).mean().backward()
    full = torch.cat([p.grad.flatten() for p in net.parameters()])
    net.zero_grad()
    SLTT()(net, x, y)
    dropped = torch.cat([p.grad.flatten() for p in net.parameters()])
    assert result["overall"] == pytest.approx(float(F.cosine_similarity(full, dropped, dim=0)))
    assert result["overall"] < 0.999  # τ = 8: the membranes remember
    w = net[2].layer.weight
    assert -1.0 <= result["per_parameter"]["2.layer.weight"] <= 1.0 and w.grad is not None
