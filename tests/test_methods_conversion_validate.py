"""Checking before any work that every operation of an ANN converts
(``methods/conversion/validate.py``): what is supported, and every unsupported operation,
by name and location, in one error."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeforge.methods.conversion import UnsupportedOperationError
from spikeforge.methods.conversion.trace import trace
from spikeforge.methods.conversion.validate import (
    check_convertible,
    graph_problems,
    module_problems,
)


def _graph(model: nn.Module):
    gm, reason = trace(model)
    assert reason is None, reason
    return gm


class Supported(nn.Module):
    """Everything the module docstring lists as supported, in one network."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.ReLU()
        self.avg = nn.AvgPool2d(2)
        self.max = nn.MaxPool2d(2)
        self.drop = nn.Dropout(0.1)
        self.id = nn.Identity()
        self.flat = nn.Flatten()
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.bn(self.conv(x)))
        a = self.avg(h) + F.avg_pool2d(h, 2)
        m = self.max(h)
        h = torch.cat([a * 0.5, m / 2], dim=1)
        h = F.relu(self.id(self.drop(h))).relu()
        h = F.adaptive_avg_pool2d(h, 1).view(h.size(0), -1)
        return self.fc(torch.flatten(h, 1))


def test_a_network_of_supported_operations_has_no_problems():
    model = Supported().eval()
    assert model(torch.rand(2, 2, 4, 4)).shape == (2, 3)
    assert graph_problems(_graph(model)) == []
    check_convertible(model, _graph(model), "avg", "traced")  # returns quietly


class Unsupported(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.gelu = nn.GELU()
        self.bn = nn.BatchNorm2d(2)
        self.max = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.gelu(self.conv(x))
        h = self.bn(h)  # after an activation: nothing to fold into
        h = h * torch.sigmoid(h)  # a product of two tensors, and a sigmoid
        h = h.exp()  # an unsupported method
        return self.max(h).flatten(1)


def test_every_unsupported_operation_is_listed_with_its_location():
    problems = graph_problems(_graph(Unsupported()))
    assert len(problems) == 5, problems
    expected = [
        "module GELU at gelu",
        "BatchNorm2d at bn",
        "function torch.sigmoid at node 'sigmoid'",
        "function mul of two tensors at node 'mul'",
        "method .exp() at node 'exp'",
    ]
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), (problem, start)
    assert "does not follow a conv/linear layer" in problems[1]
    assert "(not linear in spikes)" in problems[3]
    assert all("test_methods_conversion_validate.py:" in p for p in problems)


def test_max_pooling_is_refused_only_when_asked():
    class Pools(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.max = nn.MaxPool2d(2)

        def forward(self, x):
            return F.max_pool2d(self.max(x), 2)

    gm = _graph(Pools())
    assert graph_problems(gm, "avg") == graph_problems(gm, "spiking") == []
    problems = graph_problems(gm, "error")
    assert problems[0].startswith("MaxPool2d at max") and problems[0].endswith("(maxpool='error')")
    assert problems[1].startswith("function torch.nn.functional.max_pool2d at node")
    assert len(problems) == 2


def test_max_pool_functions_with_dilation_or_indices_are_refused():
    class Dilated(nn.Module):
        def forward(self, x):
            return F.max_pool2d(x, 2, dilation=2)

    (problem,) = graph_problems(_graph(Dilated()))
    assert problem.endswith("(dilation/return_indices)")


def test_batch_norm_must_follow_its_own_single_use_layer():
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1)
            self.bn = nn.BatchNorm2d(1)

        def forward(self, x):
            return self.bn(self.conv(x)) + self.conv(x)

    class OtherUser(Shared):
        def forward(self, x):
            h = self.conv(x)
            return self.bn(h) + h

    (twice,) = graph_problems(_graph(Shared()))
    assert "its conv/linear 'conv' is called more than once" in twice
    (shared,) = graph_problems(_graph(OtherUser()))
    assert "its conv/linear 'conv' has other users, so it cannot be folded" in shared


def test_module_walk_sees_modules_only():
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3),
        nn.BatchNorm2d(2),  # fine: right after its conv
        nn.ReLU(),
        nn.BatchNorm2d(2),  # not after a conv/linear
        nn.Sequential(nn.Tanh(), nn.MaxPool2d(2)),
    )
    problems = module_problems(model)
    assert problems == ["BatchNorm2d at 3: does not follow a conv/linear layer in the same "
                        "nn.Sequential, so it cannot be folded", "module Tanh at 4.0"]  # fmt: skip
    assert module_problems(model, "error")[-1] == "MaxPool2d at 4.1 (maxpool='error')"

    class Loose(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(1, 1, 1), nn.BatchNorm1d(1)

    (loose,) = module_problems(Loose())
    assert loose.startswith("BatchNorm1d at bn: outside an nn.Sequential")


def test_check_convertible_raises_one_error_naming_every_problem():
    model = Unsupported()
    with pytest.raises(UnsupportedOperationError) as info:
        check_convertible(model, _graph(model), "avg", "traced with torch.fx")
    error = info.value
    assert isinstance(error, TypeError) and len(error.problems) == 5
    text = str(error)
    assert text.startswith(
        "cannot convert this ANN to an SNN (traced with torch.fx): 5 unsupported"
    )
    assert all(f"  - {p}" in text for p in error.problems)
    with pytest.raises(UnsupportedOperationError, match="module walk"):
        check_convertible(nn.Sequential(nn.Tanh()), None, "avg", "module walk")
    with pytest.raises(ValueError, match="maxpool must be one of avg, spiking, error, got 'min'"):
        check_convertible(Supported(), None, "min", "module walk")
