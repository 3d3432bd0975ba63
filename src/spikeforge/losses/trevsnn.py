r"""T-RevSNN's loss (METHODS §11, the official ``loss.py``): one head per time step,
later heads weighted more, the last one twice.

``L = Σ_{i=1}^{T} (i/T)·CE(o_i, y) + CE(o_T, y)`` on outputs ``[T, B, N]`` (``o_i`` the
head of step i), with label smoothing (0.1 in the paper; from ``optim.label_smoothing``).
A model in eval mode gives only its last head, ``[1, B, N]``: the formula at T = 1,
``2·CE(o_T, y)``. The accuracy readout is the last step (:class:`LastStepDecoder`), as the
paper evaluates.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..encoding.decoders import ANALOG_KINDS, check_output, check_population, num_groups
from .objectives import OBJECTIVES, CEMembrane


def head_weights(steps: int) -> list[float]:
    """The weight of each step's cross-entropy: ``i/T`` for i = 1..T, plus 1 on the last."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    weights = [i / steps for i in range(1, steps + 1)]
    weights[-1] += 1.0
    return weights


class LastStepDecoder(nn.Module):
    """Class scores ``[B, C]`` from the last step of ``[T, B, N]`` (a population's mean);
    ``predict`` = argmax."""

    accepts: ClassVar[tuple[str, ...]] = ANALOG_KINDS

    def __init__(self, population: int | None = None) -> None:
        super().__init__()
        self.population = check_population(population)

    def forward(self, outputs: torch.Tensor) -> torch.Tensor:
        check_output(outputs, "outputs")
        last = outputs[-1]
        if self.population is None:
            return last
        C = num_groups(last.shape[-1], self.population, "outputs")
        return last.reshape(last.shape[0], C, self.population).mean(-1)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        """Class indices ``[B]``."""
        return self.forward(outputs).argmax(-1)

    def extra_repr(self) -> str:
        return f"population={self.population}"


@OBJECTIVES.register("trevsnn")
class TRevSNNLoss(CEMembrane):
    """``Σ_i (i/T)·CE(o_i, y) + CE(o_T, y)`` on analog head outputs ``[T, B, N]``.

    Args:
        population: P outputs per class (averaged per group), or ``None``.
        num_classes: if given, the outputs must have this many classes.
        label_smoothing: as :func:`torch.nn.functional.cross_entropy`, in [0, 1).
    """

    def __init__(
        self,
        population: int | None = None,
        num_classes: int | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__("per_step", population, num_classes, label_smoothing)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``outputs`` ``[T, B, N]``, ``targets`` ``[B]`` → scalar."""
        C = self._check(outputs, targets, "outputs")
        loss = outputs.new_zeros(())
        for step, weight in enumerate(head_weights(outputs.shape[0])):
            logits = outputs[step]
            if self.population is not None:
                logits = logits.reshape(logits.shape[0], C, self.population).mean(-1)
            ce = F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)
            loss = loss + weight * ce
        return loss

    def readout_decoder(self) -> nn.Module:
        """The last step's scores (the last head)."""
        return LastStepDecoder(self.population)

    def extra_repr(self) -> str:
        return f"population={self.population}, label_smoothing={self.label_smoothing}"
