"""Training methods as objects behind one trainer loop.

A method turns a batch into a loss and its named terms:
``method(model, inputs [T, B, ...], targets [B]) -> {"loss": scalar, "output": [T, B, C], ...}``.
BPTT is the plain one; conversion fine-tuning, distillation and online methods add
their own modules (a frozen teacher, adapters) and loss terms, and the loop stays one.
Methods are ``nn.Module``s so their extra parameters and buffers are checkpointed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import nn

from .._registry import Registry

METHODS: Registry[Callable[..., Method]] = Registry("method")


class Method(nn.Module):
    """Base class; subclasses implement :meth:`forward`.

    Class attributes say what the engine must hand a method (so no list of method names
    is kept anywhere): ``needs_teacher`` — a frozen ANN (``teacher=``, from
    ``distill.teacher``); ``needs_pairs`` — layer pairs (``pairs=``, from
    ``distill.pairs``); ``takes_seed`` — the run's seed (``seed=``, for a method that
    draws random numbers of its own); ``classifies`` (default true) — whether ``output``
    holds class scores: a method without them (masked-image pretraining) gets no
    accuracy logged, and its best checkpoint is the one of lowest test loss;
    ``models`` — the registered model names it can train (empty: any), checked against
    ``model.name`` when a config is built, before anything trains.
    """

    needs_teacher: ClassVar[bool] = False
    needs_pairs: ClassVar[bool] = False
    takes_seed: ClassVar[bool] = False
    classifies: ClassVar[bool] = True
    models: ClassVar[tuple[str, ...]] = ()

    def forward(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def prepare(self, model: nn.Module, sample: Callable[[int], torch.Tensor]) -> None:
        """Called once by the engine before the optimiser exists (and before a resumed
        run's state is loaded), with the model and ``sample(n)``: ``n`` encoded training
        inputs ``[T, n, ...]`` from a seeded draw, the same on every process. Methods
        with modules sized from the data (feature-KD adapters) build them here."""

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Hook for schedules a method owns (e.g. masked-PSN λ, loss-weight ramps)."""
