"""Surrogate-gradient backpropagation through time (BPTT / STBP)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..losses import OBJECTIVES
from .base import METHODS, Method


@METHODS.register("bptt")
class BPTT(Method):
    """Run the model on the whole sequence and apply a registered objective.

    Args:
        objective: registered objective name (``"ce_membrane"``, ``"ce_rate"``, ...).
        objective_kwargs: its options (e.g. ``{"label_smoothing": 0.1}``).
    """

    def __init__(self, objective: str = "ce_membrane", **objective_kwargs: Any) -> None:
        super().__init__()
        self.objective = OBJECTIVES.create(objective, **objective_kwargs)

    def forward(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        output = model(inputs)  # [T, B, C]
        return {"loss": self.objective(output, targets), "output": output}
