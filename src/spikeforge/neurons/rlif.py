"""Recurrent LIF module: ``X[t] <- X[t] + W_rec S[t-1]`` (one-to-one or all-to-all)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..functional.rlif import RLIFParameters, rlif_initial_state, rlif_sequence, rlif_step
from ..functional.state import RLIFState
from .lif import LIF
from .registry import NEURONS


@NEURONS.register("rlif")
class RLIF(LIF):
    """LIF with learnable recurrent feedback of its own previous spikes.

    Args:
        features: N, the size of the last input dimension.
        all_to_all: full ``[N, N]`` recurrent matrix (inputs ``[T, B, N]``) instead of a
            one-to-one ``[N]`` vector (any ``[T, B, ..., N]``).
        **kwargs: every :class:`~spikeforge.neurons.LIF` option.

    State ``RLIFState(v, s)``, each ``[B, ..., N]``.
    """

    def __init__(self, features: int, all_to_all: bool = False, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if not isinstance(features, int) or features <= 0:
            raise ValueError(f"features must be a positive int, got {features!r}")
        bound = 1.0 / math.sqrt(features)
        shape = (features, features) if all_to_all else (features,)
        self.recurrent_weight = nn.Parameter(torch.empty(shape).uniform_(-bound, bound))

    def _dynamics(self) -> RLIFParameters:
        return RLIFParameters(weight=self.recurrent_weight, lif=self.parameters_for_dynamics())

    def _check_parameter_shapes(self, step_shape: torch.Size, sequence: bool) -> None:
        # The recurrent weight is checked by the functional core (it is not elementwise).
        pass

    def initial_state(self, x_t: torch.Tensor) -> RLIFState:
        return rlif_initial_state(x_t, self._dynamics())

    def _run(self, x: torch.Tensor, state: RLIFState) -> tuple[torch.Tensor, RLIFState]:
        return rlif_sequence(x, state, self._dynamics())

    def _step(self, x_t: torch.Tensor, state: RLIFState) -> tuple[torch.Tensor, RLIFState]:
        return rlif_step(x_t, state, self._dynamics())

    def extra_repr(self) -> str:
        kind = "all_to_all" if self.recurrent_weight.dim() == 2 else "one_to_one"
        return f"features={self.recurrent_weight.shape[0]}, {kind}, {super().extra_repr()}"
