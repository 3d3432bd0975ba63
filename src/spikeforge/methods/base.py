"""Training methods as objects behind one trainer loop.

A method turns a batch into a loss and its named terms:
``method(model, inputs [T, B, ...], targets [B]) -> {"loss": scalar, "output": [T, B, C], ...}``.
BPTT is the plain one; conversion fine-tuning, distillation and online methods add
their own modules (a frozen teacher, adapters) and loss terms, and the loop stays one.
Methods are ``nn.Module``s so their extra parameters and buffers are checkpointed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .._registry import Registry

METHODS: Registry[Callable[..., Method]] = Registry("method")


class Method(nn.Module):
    """Base class; subclasses implement :meth:`forward`."""

    def forward(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Hook for schedules a method owns (e.g. masked-PSN λ, loss-weight ramps)."""
