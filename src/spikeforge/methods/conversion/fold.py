r"""Fold BatchNorm (inference statistics) into the conv/linear layer before it.

``BN(Wx + b) = γ (Wx + b - μ)/√(σ² + ε) + β = W'x + b'`` with ``W' = W · γ/√(σ² + ε)``
(per output channel) and ``b' = (b - μ) γ/√(σ² + ε) + β``. The folded network equals
the ANN in eval mode exactly (up to rounding).
"""

from __future__ import annotations

import copy
from itertools import pairwise

import torch
import torch.fx as fx
from torch import nn

from .validate import BATCH_NORMS, WEIGHT_LAYERS


@torch.no_grad()
def fold_batch_norm(layer: nn.Module, bn: nn.Module) -> nn.Module:
    """A copy of ``layer`` (Conv/Linear) with ``bn``'s eval-mode affine map folded in."""
    if not isinstance(layer, WEIGHT_LAYERS) or not isinstance(bn, BATCH_NORMS):
        raise TypeError(
            f"fold_batch_norm expects (conv/linear, BatchNorm), got "
            f"({type(layer).__name__}, {type(bn).__name__})"
        )
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("BatchNorm without running statistics (track_running_stats=False)")
    if bn.num_features != layer.weight.shape[0]:
        raise ValueError(
            f"BatchNorm has {bn.num_features} features but the layer before it has "
            f"{layer.weight.shape[0]} outputs"
        )
    folded = copy.deepcopy(layer)
    weight = layer.weight
    gamma = bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)
    beta = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_var)
    factor = gamma / torch.sqrt(bn.running_var + bn.eps)  # [C_out]
    bias = layer.bias if layer.bias is not None else torch.zeros_like(bn.running_mean)
    folded.weight = nn.Parameter(weight * factor.view(-1, *([1] * (weight.dim() - 1))))
    folded.bias = nn.Parameter((bias - bn.running_mean) * factor + beta)
    return folded


def fold_graph(gm: fx.GraphModule) -> int:
    """Fold every ``layer -> BatchNorm`` pair of a traced ANN in place; returns the count."""
    modules = dict(gm.named_modules())
    count = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(modules[str(node.target)], BATCH_NORMS):
            continue
        prev = node.args[0]
        layer_name = str(prev.target)
        gm.set_submodule(layer_name, fold_batch_norm(modules[layer_name], modules[node.target]))
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)
        gm.delete_submodule(str(node.target))
        count += 1
    gm.graph.lint()
    gm.recompile()
    return count


def fold_modules(model: nn.Module) -> int:
    """Fold ``layer, BatchNorm`` neighbours inside every ``nn.Sequential`` (module walk)."""
    count = 0
    for module in list(model.modules()):
        if not isinstance(module, nn.Sequential):
            continue
        names = [name for name, _ in module.named_children()]
        for first, second in pairwise(names):
            layer, bn = module.get_submodule(first), module.get_submodule(second)
            if isinstance(layer, WEIGHT_LAYERS) and isinstance(bn, BATCH_NORMS):
                setattr(module, first, fold_batch_norm(layer, bn))
                setattr(module, second, nn.Identity())
                count += 1
    return count
