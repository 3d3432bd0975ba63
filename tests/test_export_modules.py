"""CubaLI (the current-based leaky integrator readout) against a hand loop, and
NIRGraphModule's rule: a node runs on the sum of its sources, in order."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.export import CubaLI, NIRGraphModule


@pytest.mark.parametrize("decay_input", [True, False])
def test_cuba_li_equals_a_hand_loop(decay_input):
    torch.manual_seed(0)
    x = torch.randn(9, 2, 3, dtype=torch.float64)
    alpha, tau = 0.6, 2.5
    i = v = torch.zeros(2, 3, dtype=torch.float64)
    expected = []
    for x_t in x:
        i = alpha * i + x_t
        v = v + (i - v) / tau if decay_input else v - v / tau + i
        expected.append(v)
    neuron = CubaLI(alpha=alpha, tau=tau, decay_input=decay_input)
    out, state = neuron.run(x)
    torch.testing.assert_close(out, torch.stack(expected), rtol=1e-14, atol=1e-14)
    steps, carried = [], None
    for x_t in x:  # step by step gives the same trajectory and final state
        o, carried = neuron.step(x_t, carried)
        steps.append(o)
    torch.testing.assert_close(torch.stack(steps), out, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(carried.i, state.i, rtol=0, atol=0)


def test_cuba_li_gradient_is_right_in_float64():
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: CubaLI(alpha=0.4, tau=3.0)(t), (x,))


def test_cuba_li_refuses_bad_parameters():
    with pytest.raises(ValueError, match=r"alpha .* \[0, 1\), got 1.0"):
        CubaLI(alpha=1.0)
    with pytest.raises(ValueError, match="tau must be a finite number >= 1, got 0.5"):
        CubaLI(tau=0.5)


class _Scale(nn.Module):
    def __init__(self, k: float) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.k * x


def test_graph_module_sums_the_sources_of_each_node():
    # input -> a (×2) -> b (×3); output = a + b + input  (a residual join of three edges)
    graph = NIRGraphModule(
        {"a": _Scale(2.0), "b": _Scale(3.0)},
        {"a": ["input"], "b": ["a"], "output": ["a", "b", "input"]},
        ["a", "b"],
    )
    x = torch.randn(4, 2, 3)
    torch.testing.assert_close(graph(x), 2 * x + 6 * x + x)


def test_graph_module_refuses_an_order_that_uses_a_node_before_it_runs():
    with pytest.raises(ValueError, match=r"graph node 'a' needs its sources computed first"):
        NIRGraphModule(
            {"a": _Scale(1.0), "b": _Scale(1.0)},
            {"a": ["b"], "b": ["input"], "output": ["a"]},
            ["a", "b"],
        )
    with pytest.raises(ValueError, match="has no module"):
        NIRGraphModule({}, {"a": ["input"], "output": ["a"]}, ["a"])
