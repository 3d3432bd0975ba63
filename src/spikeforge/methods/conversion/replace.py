"""Swap ANN operations for their spiking counterparts (graph or module walk).

- ReLU (module, ``F.relu``/``torch.relu``/``x.relu()``) -> :class:`.neurons.ConvertedIF`,
  one neuron per call site (a ReLU module called twice gets two neurons, since each
  call site has its own membrane);
- max-pool -> average pool with a warning (``maxpool="avg"``: a max of spikes is not a
  max of rates) or :class:`.neurons.SpikingMaxPool` (``maxpool="spiking"``, 2-D only);
- dropout -> identity (inference network; hybrid fine-tuning trains without it).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from .neurons import SpikingMaxPool
from .trace import node_location
from .validate import MAX_POOL_FUNCTIONS, MAX_POOLS, RELU_FUNCTIONS

NeuronFactory = Callable[[], nn.Module]
DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
_POOL_ARGS = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
_AVG_POOLS = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}


def _pool_settings(source: nn.Module | fx.Node) -> dict[str, Any]:
    """kernel/stride/padding/ceil_mode of a max-pool module or ``F.max_pool*d`` node."""
    if isinstance(source, nn.Module):
        values = {k: getattr(source, k) for k in _POOL_ARGS[:5]}
    else:
        values = dict(zip(_POOL_ARGS, source.args[1:], strict=False)) | dict(source.kwargs)
    stride = values.get("stride")
    return {
        "kernel_size": values["kernel_size"],
        "stride": stride if stride not in (None, []) else values["kernel_size"],
        "padding": values.get("padding", 0),
        "ceil_mode": bool(values.get("ceil_mode", False)),
    }


def _pool_replacement(dims: int, settings: dict[str, Any], maxpool: str) -> nn.Module:
    if maxpool == "spiking" and dims == 2:
        return SpikingMaxPool(**settings)
    return _AVG_POOLS[dims](**settings, count_include_pad=False)


def _warn_max_pools(sites: list[str]) -> None:
    """One warning naming every max-pool that became an average pool."""
    if not sites:
        return
    warnings.warn(
        f"max-pooling converted to average pooling at {', '.join(sites)}: the SNN will "
        f"approximate an average-pooled ANN (retrain the ANN with average pooling, or "
        f"pass maxpool='spiking' for 2-D pools)",
        UserWarning,
        stacklevel=3,
    )


def _dims(module_or_fn: object) -> int:
    name = getattr(module_or_fn, "__name__", type(module_or_fn).__name__)
    return int(name.rstrip("d")[-1])


def replace_graph(gm: fx.GraphModule, neuron: NeuronFactory, maxpool: str = "avg") -> list[str]:
    """Replace activations, pools and dropout in a traced ANN; returns the neuron names."""
    modules = dict(gm.named_modules())
    names: list[str] = []
    pools: list[str] = []
    used: set[str] = set()
    for node in list(gm.graph.nodes):
        module = modules.get(str(node.target)) if node.op == "call_module" else None
        is_relu = (
            isinstance(module, nn.ReLU)
            or (node.op == "call_function" and node.target in RELU_FUNCTIONS)
            or (node.op == "call_method" and node.target in ("relu", "relu_"))
        )
        if is_relu:
            base = str(node.target) if module is not None else f"{node.name}_if"
            name, k = base, 1
            while name in used or (module is None and name in modules):
                name, k = f"{base}_{k}", k + 1
            used.add(name)
            if module is not None:
                gm.set_submodule(name, neuron())
            else:
                gm.add_submodule(name, neuron())
            names.append(name)
            with gm.graph.inserting_before(node):
                new = gm.graph.call_module(name, (node.args[0],))
            node.replace_all_uses_with(new)
            gm.graph.erase_node(node)
        elif isinstance(module, MAX_POOLS) or (
            node.op == "call_function" and node.target in MAX_POOL_FUNCTIONS
        ):
            dims = _dims(module if module is not None else node.target)
            settings = _pool_settings(module if module is not None else node)
            replacement = _pool_replacement(dims, settings, maxpool)
            if not isinstance(replacement, SpikingMaxPool):
                pools.append(node_location(node))
            if module is not None:
                gm.set_submodule(str(node.target), replacement)
            else:
                name = f"{node.name}_pool"
                gm.add_submodule(name, replacement)
                with gm.graph.inserting_before(node):
                    new = gm.graph.call_module(name, (node.args[0],))
                node.replace_all_uses_with(new)
                gm.graph.erase_node(node)
        elif isinstance(module, DROPOUTS) or (
            node.op == "call_function" and node.target is F.dropout
        ):
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
    gm.graph.eliminate_dead_code()
    gm.graph.lint()
    gm.recompile()
    _warn_max_pools(pools)
    return names


def replace_modules(model: nn.Module, neuron: NeuronFactory, maxpool: str = "avg") -> list[str]:
    """Module-walk version for untraceable models (functional calls are not seen)."""
    names: list[str] = []
    pools: list[str] = []
    for name, module in list(model.named_modules()):
        if list(module.children()):
            continue
        if isinstance(module, nn.ReLU):
            model.set_submodule(name, neuron())
            names.append(name)
        elif isinstance(module, MAX_POOLS):
            replacement = _pool_replacement(_dims(module), _pool_settings(module), maxpool)
            if not isinstance(replacement, SpikingMaxPool):
                pools.append(name)
            model.set_submodule(name, replacement)
        elif isinstance(module, DROPOUTS):
            model.set_submodule(name, nn.Identity())
    _warn_max_pools(pools)
    return names
