"""Tracing an ANN for conversion (``methods/conversion/trace.py``): a graph when
``torch.fx`` can trace it, otherwise the reason; node locations with their source line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from spikeforge.methods.conversion.trace import node_location, trace


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        return F.relu(h)  # the line the relu node points at


class Branchy(Net):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent control flow
            return self.fc(x)
        return -self.fc(x)


def _line(text: str) -> int:
    """Line number of ``text`` in this file."""
    lines = Path(__file__).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_a_traceable_model_becomes_an_equivalent_graph_module():
    model = Net()
    gm, reason = trace(model)
    assert reason is None and isinstance(gm, fx.GraphModule)
    assert type(gm).__name__ == "Net"
    ops = [(n.op, n.target) for n in gm.graph.nodes]
    assert ("call_module", "fc") in ops and ("call_function", F.relu) in ops
    x = torch.randn(4, 3)
    torch.testing.assert_close(gm(x), model(x))


def test_an_untraceable_model_gives_the_reason():
    gm, reason = trace(Branchy())
    assert gm is None
    assert reason.startswith("TraceError: ") and "\n" not in reason and len(reason) <= 212


def test_only_modules_are_traced():
    with pytest.raises(TypeError, match="conversion needs an nn.Module, got function"):
        trace(lambda x: x)


def test_node_locations_name_the_module_or_node_and_the_source_line():
    gm, _ = trace(Net())
    nodes = {n.target: n for n in gm.graph.nodes}
    here = Path(__file__).name
    fc = node_location(nodes["fc"])
    assert fc == f"fc ({here}:{_line('h = self.fc(x)')}: h = self.fc(x))"
    relu = node_location(nodes[F.relu])
    expected = f"{here}:{_line('return F.relu(h)')}: return F.relu(h)"
    assert relu.startswith("node 'relu' (") and expected in relu


def test_a_node_without_a_stack_trace_is_named_alone():
    graph = fx.Graph()
    x = graph.placeholder("x")
    node = graph.call_function(torch.neg, (x,))
    assert node_location(node) == f"node {node.name!r}"
