"""Check, before any work, that every operation of an ANN can be converted.

Supported: conv/linear (BatchNorm right after them is folded), ReLU (module,
``F.relu``, ``torch.relu``, ``x.relu()``), average pooling, max pooling (converted, see
:mod:`.replace`), flatten/reshape/view, dropout, identity, ``+`` of two tensors,
concatenation, and scaling by a constant. Everything else — other activations
(sigmoid, GELU, ...), LayerNorm, products of two tensors, BatchNorm that does not follow a
conv/linear — is collected by name and location into ONE :class:`UnsupportedOperationError`.
"""

from __future__ import annotations

import operator
from collections import Counter

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from .trace import node_location

WEIGHT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
PASS_THROUGH_MODULES = (
    nn.ReLU,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.Flatten,
    nn.Unflatten,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.Identity,
)
RELU_FUNCTIONS = (F.relu, torch.relu, torch.relu_)
MAX_POOL_FUNCTIONS = (F.max_pool1d, F.max_pool2d, F.max_pool3d)
LINEAR_FUNCTIONS = (
    operator.add,
    torch.add,
    torch.cat,
    torch.flatten,
    torch.reshape,
    F.avg_pool1d,
    F.avg_pool2d,
    F.avg_pool3d,
    F.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d,
    F.adaptive_avg_pool3d,
    F.dropout,
    operator.getitem,
    getattr,
)
SCALING_FUNCTIONS = (operator.mul, operator.truediv, torch.mul)
SUPPORTED_METHODS = {
    "relu",
    "relu_",
    "flatten",
    "view",
    "reshape",
    "size",
    "mean",
    "add",
    "add_",
    "contiguous",
    "squeeze",
    "unsqueeze",
}
MAX_POOL_MODES = ("avg", "spiking", "error")


class UnsupportedOperationError(TypeError):
    """The ANN uses operations conversion cannot map; ``.problems`` lists them."""

    def __init__(self, problems: list[str], how: str) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"cannot convert this ANN to an SNN ({how}): {len(problems)} unsupported "
            f"operation(s):\n{listing}\nsupported: conv/linear (+ BatchNorm after them), "
            f"ReLU, average/max pooling, flatten/reshape, dropout, identity, add, cat, "
            f"scaling by a constant"
        )


def _name(target: object) -> str:
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", None) or repr(target)
    return f"{module}.{name}" if module and module not in ("_operator", "builtins") else name


def _batch_norm_problem(node: fx.Node, modules: dict[str, nn.Module], calls: Counter) -> str:
    """Why the BatchNorm ``node`` cannot be folded ('' if it can)."""
    prev = node.args[0] if node.args else None
    if not (
        isinstance(prev, fx.Node)
        and prev.op == "call_module"
        and isinstance(modules.get(str(prev.target)), WEIGHT_LAYERS)
    ):
        return "does not follow a conv/linear layer, so it cannot be folded"
    if len(prev.users) != 1:
        return f"its conv/linear {prev.target!r} has other users, so it cannot be folded"
    if calls[str(prev.target)] != 1:
        return f"its conv/linear {prev.target!r} is called more than once"
    return ""


def graph_problems(gm: fx.GraphModule, maxpool: str = "avg") -> list[str]:
    """Every unsupported node of a traced ANN, as ``"what at where"`` strings."""
    modules = dict(gm.named_modules())
    calls = Counter(str(n.target) for n in gm.graph.nodes if n.op == "call_module")
    problems: list[str] = []
    for node in gm.graph.nodes:
        where = node_location(node)
        if node.op == "call_module":
            module = modules[str(node.target)]
            if isinstance(module, BATCH_NORMS):
                why = _batch_norm_problem(node, modules, calls)
                if why:
                    problems.append(f"{type(module).__name__} at {where}: {why}")
            elif isinstance(module, MAX_POOLS) and maxpool == "error":
                problems.append(f"{type(module).__name__} at {where} (maxpool='error')")
            elif not isinstance(module, WEIGHT_LAYERS + MAX_POOLS + PASS_THROUGH_MODULES):
                problems.append(f"module {type(module).__name__} at {where}")
        elif node.op == "call_function":
            target = node.target
            if target in RELU_FUNCTIONS or target in LINEAR_FUNCTIONS:
                continue
            if target in MAX_POOL_FUNCTIONS:
                if maxpool == "error":
                    problems.append(f"function {_name(target)} at {where} (maxpool='error')")
                elif node.kwargs.get("return_indices") or node.kwargs.get("dilation", 1) != 1:
                    problems.append(
                        f"function {_name(target)} at {where} (dilation/return_indices)"
                    )
                continue
            if target in SCALING_FUNCTIONS:
                tensors = [a for a in node.args if isinstance(a, fx.Node)]
                if len(tensors) <= 1:
                    continue
                problems.append(
                    f"function {_name(target)} of two tensors at {where} (not linear in spikes)"
                )
                continue
            problems.append(f"function {_name(target)} at {where}")
        elif node.op == "call_method" and node.target not in SUPPORTED_METHODS:
            problems.append(f"method .{node.target}() at {where}")
    return problems


def module_problems(model: nn.Module, maxpool: str = "avg") -> list[str]:
    """Unsupported leaf modules of an untraceable ANN (module walk; functions unseen)."""
    problems: list[str] = []
    supported = WEIGHT_LAYERS + BATCH_NORMS + MAX_POOLS + PASS_THROUGH_MODULES
    for name, module in model.named_modules():
        children = list(module.named_children())
        if isinstance(module, nn.Sequential):
            previous: nn.Module | None = None
            for child_name, child in children:
                if isinstance(child, BATCH_NORMS) and not isinstance(previous, WEIGHT_LAYERS):
                    where = f"{name}.{child_name}" if name else child_name
                    problems.append(
                        f"{type(child).__name__} at {where}: does not follow a conv/linear "
                        f"layer in the same nn.Sequential, so it cannot be folded"
                    )
                previous = child
        if children:
            continue
        if not isinstance(module, supported):
            problems.append(f"module {type(module).__name__} at {name or '<root>'}")
        elif isinstance(module, MAX_POOLS) and maxpool == "error":
            problems.append(f"{type(module).__name__} at {name} (maxpool='error')")
    parents = {n for n, m in model.named_modules() if isinstance(m, nn.Sequential)}
    for name, module in model.named_modules():
        parent = name.rpartition(".")[0] if "." in name else ""
        if isinstance(module, BATCH_NORMS) and parent not in parents:
            problems.append(
                f"{type(module).__name__} at {name}: outside an nn.Sequential, an untraceable "
                f"model's BatchNorm cannot be matched to its conv/linear"
            )
    return problems


def check_convertible(model: nn.Module, gm: fx.GraphModule | None, maxpool: str, how: str) -> None:
    """Raise one :class:`UnsupportedOperationError` listing every problem (or return)."""
    if maxpool not in MAX_POOL_MODES:
        raise ValueError(f"maxpool must be one of {', '.join(MAX_POOL_MODES)}, got {maxpool!r}")
    problems = graph_problems(gm, maxpool) if gm is not None else module_problems(model, maxpool)
    if problems:
        raise UnsupportedOperationError(problems, how)
