"""Run any stateless layer on a time-major sequence by folding time into the batch.

``[T, B, ...] -> [T·B, ...] -> layer -> [T·B, ...] -> [T, B, ...]``. One wrapper serves
Conv/Linear/BatchNorm/pooling/dropout/flatten alike: layers that only see a batch
cannot tell time steps apart, which is what "stateless over time" means. BatchNorm
therefore pools its statistics over T and B (as tdBN prescribes).
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_sequence


class TimeFold(nn.Module):
    """Wrap ``layer`` so it maps ``[T, B, ...]`` to ``[T, B, ...']``.

    Args:
        layer: any module taking ``[N, ...]`` (N = batch).
    """

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        if not isinstance(layer, nn.Module):
            raise TypeError(f"TimeFold wraps an nn.Module, got {type(layer).__name__}")
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, f"TimeFold({type(self.layer).__name__}) input")
        steps, batch = x.shape[:2]
        y = self.layer(x.flatten(0, 1))
        return y.unflatten(0, (steps, batch))


def fold(*layers: nn.Module) -> nn.Module:
    """``fold(conv)`` -> ``TimeFold(conv)``; several layers are chained in one fold."""
    if not layers:
        raise ValueError("fold() needs at least one layer")
    inner = layers[0] if len(layers) == 1 else nn.Sequential(*layers)
    return TimeFold(inner)
