"""The ``"eprop"`` training method: e-prop's forward-in-time gradients for
:class:`~spikeforge.models.eprop_rsnn.EpropRSNN` (see that module for the rule and when it
is exact)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..losses import CEPerStep
from ..models.eprop_rsnn import EpropRSNN
from .base import METHODS, Method


@METHODS.register("eprop")
class Eprop(Method):
    """Train an :class:`EpropRSNN` by e-prop (``train.method=eprop``): the method sets the
    gradients itself, forward in time.

    Args:
        objective: ``"ce_per_step"`` (the only objective e-prop's learning signal is built
            for here: the mean over steps of each step's cross-entropy).
    """

    backpropagates = True  # the trainer must not call backward

    def __init__(self, objective: str = "ce_per_step", **unused: Any) -> None:
        super().__init__()
        if objective != "ce_per_step":
            raise ValueError(
                "e-prop's learning signal is built for the per-step cross-entropy: set "
                f"train.objective=ce_per_step (got {objective!r})"
            )
        if unused:
            raise TypeError(f"eprop takes no options {sorted(unused)}")
        self.objective = CEPerStep()

    def forward(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        if torch.is_autocast_enabled(inputs.device.type):
            raise ValueError("train.method=eprop sets unscaled gradients: turn train.amp off")
        if isinstance(model, nn.parallel.DistributedDataParallel):
            raise ValueError("train.method=eprop runs in one process (it sets gradients itself)")
        if not isinstance(model, EpropRSNN):
            raise ValueError(
                f"train.method=eprop needs model eprop_rsnn, got {type(model).__name__}"
            )
        if not torch.is_grad_enabled():  # evaluation
            y = model(inputs)
            return {"loss": self.objective(y, targets), "output": y}
        loss, y = model.eprop_gradients(inputs, targets, "ce")
        return {"loss": loss, "output": y}
