"""Train an ANN twin on the one Trainer: the input averaged over time is its image.

With direct encoding every step of ``[T, B, C, H, W]`` is the image, so
``inputs.mean(0)`` is exactly the image (for rate encoders it is the rate estimate).
The ANN's ``[B, C]`` scores are returned as ``output [1, B, C]`` (a single time step),
so the Trainer's evaluation (``output.mean(0)``) and the objectives work unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import METHODS
from .bptt import BPTT


@METHODS.register("ann")
class ANNMethod(BPTT):
    """Feed ``inputs.mean(0)`` to an ANN (``[B, ...] -> [B, C]``); output ``[1, B, C]``.

    Args: as :class:`~spikeforge.methods.BPTT` (objective name and options).
    """

    def forward(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        if not isinstance(inputs, torch.Tensor) or inputs.dim() < 3:
            shape = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs)
            raise ValueError(f"ann method expects time-major inputs [T, B, ...], got {shape}")
        scores = model(inputs.mean(0))
        if scores.dim() != 2 or scores.shape[0] != inputs.shape[1]:
            raise ValueError(
                f"ann method expects the model to return [B, C] = [{inputs.shape[1]}, C], got "
                f"{tuple(scores.shape)} (a spiking model? use train.method=bptt)"
            )
        output = scores.unsqueeze(0)  # [1, B, C]
        return {"loss": self.objective(output, targets), "output": output}
