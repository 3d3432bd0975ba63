"""The one time loop every sequential reference shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

S = TypeVar("S")


def scan(
    step: Callable[[torch.Tensor, S], tuple[torch.Tensor, S]], x: torch.Tensor, state: S
) -> tuple[torch.Tensor, S]:
    """Apply ``step(x_t, state) -> (out_t, state)`` over ``x`` ``[T, B, ...]``.

    Returns ``(stack of out_t [T, ...], final state)``. Iterates ``x.unbind(0)`` because
    indexing ``x[t]`` in a loop makes backward O(T²) (each select's backward allocates
    a full ``[T, B, ...]`` zero gradient).
    """
    outs = []
    for x_t in x.unbind(0):
        out, state = step(x_t, state)
        outs.append(out)
    return torch.stack(outs), state
