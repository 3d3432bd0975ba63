r"""Hybrid training (METHODS §6): convert a trained ANN, then fine-tune the SNN by BPTT.

Method ``hybrid``: surrogate BPTT with the configured objective on a converted model
(``output.mean(0)`` = accumulated output membrane / T), at the small ``data.timesteps``.
Its model is ``converted`` (registered by :mod:`spikeforge.engine.pretrained`, which
rebuilds the ANN from its checkpoint), so a hybrid run is an ordinary config on the one
Trainer.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import METHODS
from .bptt import BPTT
from .conversion import ConvertedSNN


@METHODS.register("hybrid")
class HybridMethod(BPTT):
    """Surrogate BPTT on a :class:`~spikeforge.methods.conversion.ConvertedSNN`.

    Args: as :class:`~spikeforge.methods.BPTT` (objective name and options).
    """

    models = ("converted",)

    def forward(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        if not isinstance(model, ConvertedSNN):
            raise TypeError(
                f"hybrid method fine-tunes a converted SNN (model.name=converted with "
                f"model.kwargs.checkpoint=<ANN checkpoint>), got {type(model).__name__}"
            )
        return super().forward(model, inputs, targets)
