r"""Masked-image pretraining (Spikformer V2, METHODS §13): ``train.method=mae`` with the
model ``spikformer_v2_mae`` (or a preset, :mod:`spikeforge.models.spikformer_v2_mae`).

Per batch: a random token mask per sample (the model's ``mask_ratio``), the model's
reconstruction loss on the masked patches. Labels are not used (the 10k cifar10-small
training images serve without their labels).

Randomness: training masks come from the global CPU RNG, which the trainer checkpoints,
so a resumed run draws the same masks; evaluation masks from a generator seeded with the
run's seed and restarted at the first evaluation batch after a training step, so every
epoch's test loss is measured on the same masks and is comparable across epochs.

Pretraining has no class scores (``output`` is a constant ``[1, B, 1]``): the method
says so (``classifies = False``), so the trainer logs no accuracy, only the
reconstruction losses ``train_loss`` / ``test_loss``, and keeps as ``best.pt`` the epoch
of lowest test loss.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models.spikformer_v2_mae import SpikformerV2MAE
from .base import METHODS, Method


def _unwrap(model: nn.Module) -> SpikformerV2MAE:
    net = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    if not isinstance(net, SpikformerV2MAE):
        raise ValueError(
            f"train.method=mae needs a masked-pretraining model (model.name=spikformer_v2_mae "
            f"or spikformer_v2_mae_<preset>), got {type(net).__name__}"
        )
    return net


@METHODS.register("mae")
class MaskedImagePretraining(Method):
    """Masked-image pretraining of spikformer_v2_mae: random token masks, masked-patch loss.

    Details in the module docstring. Args:
        objective: accepted because the engine hands every method one; unused (the loss
            is the model's reconstruction loss).
        seed: seeds the evaluation masks (the engine passes ``train.seed``).
    """

    takes_seed = True
    classifies = False

    def __init__(self, objective: str = "ce_membrane", seed: int = 0) -> None:
        super().__init__()
        del objective
        self.seed = int(seed)
        self._eval_generator: torch.Generator | None = None

    def forward(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        net = _unwrap(model)
        batch = inputs.shape[1]
        if net.training:
            self._eval_generator = None  # the next evaluation starts its masks afresh
            visible = net.random_visible(batch)
        else:
            if self._eval_generator is None:
                self._eval_generator = torch.Generator().manual_seed(self.seed)
            visible = net.random_visible(batch, self._eval_generator)
        out = model(inputs, visible)
        return {"loss": out["loss"], "output": inputs.new_zeros(1, batch, 1)}
