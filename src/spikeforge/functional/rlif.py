r"""Recurrent LIF: ``X[t] <- X[t] + W_rec S[t-1]``, then LIF dynamics.

- one-to-one: ``W_rec`` is a vector ``[N]`` (a diagonal matrix; any input shape whose
  last dimension broadcasts with it),
- all-to-all: ``W_rec`` is a matrix ``[N, N]`` acting on ``[B, N]`` steps
  (``S[t-1] @ W_recᵀ``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .._validation import check_sequence, check_state_shape
from .lif import LIFParameters, lif_update
from .scan import scan
from .state import RLIFState


@dataclass(frozen=True)
class RLIFParameters:
    """LIF dynamics and the recurrent weight (vector: one-to-one, matrix: all-to-all)."""

    weight: torch.Tensor
    lif: LIFParameters = field(default_factory=LIFParameters)

    def __post_init__(self) -> None:
        if not isinstance(self.weight, torch.Tensor) or self.weight.dim() not in (1, 2):
            got = tuple(self.weight.shape) if isinstance(self.weight, torch.Tensor) else self.weight
            raise ValueError(f"recurrent weight must be [N] or [N, N], got {got}")
        if self.weight.dim() == 2 and self.weight.shape[0] != self.weight.shape[1]:
            raise ValueError(f"all-to-all weight must be square, got {tuple(self.weight.shape)}")

    @property
    def all_to_all(self) -> bool:
        return self.weight.dim() == 2


def rlif_initial_state(x_t: torch.Tensor, p: RLIFParameters) -> RLIFState:
    """Rest: ``V = V_reset``, no previous spikes."""
    return RLIFState(v=torch.full_like(x_t, p.lif.v_reset), s=torch.zeros_like(x_t))


def _check_recurrent_shape(step_shape: torch.Size, p: RLIFParameters) -> None:
    n = p.weight.shape[0]
    if p.all_to_all and (len(step_shape) != 2 or step_shape[-1] != n):
        raise ValueError(
            f"all-to-all recurrence with a [{n}, {n}] weight expects steps of shape "
            f"[B, {n}], got {tuple(step_shape)}"
        )
    if not p.all_to_all and step_shape[-1] != n:
        raise ValueError(
            f"one-to-one recurrence with a [{n}] weight expects the last input dim to be "
            f"{n}, got step shape {tuple(step_shape)}"
        )


def rlif_step(
    x_t: torch.Tensor, state: RLIFState | None, p: RLIFParameters
) -> tuple[torch.Tensor, RLIFState]:
    """One step; ``x_t`` ``[B, ..., N]`` -> spikes, new state."""
    _check_recurrent_shape(x_t.shape, p)
    if state is None:
        state = rlif_initial_state(x_t, p)
    for t in state:
        check_state_shape(t.shape, x_t.shape, sequence=False)
    feedback = state.s @ p.weight.t() if p.all_to_all else state.s * p.weight
    s, v = lif_update(x_t + feedback, state.v, p.lif)
    out = s if p.lif.spike_scale is None else s * p.lif.spike_scale
    return out, RLIFState(v, s)


def rlif_sequence(
    x: torch.Tensor, state: RLIFState | None, p: RLIFParameters
) -> tuple[torch.Tensor, RLIFState]:
    """Run the recurrent LIF over ``x`` ``[T, B, ..., N]``."""
    check_sequence(x)
    _check_recurrent_shape(x.shape[1:], p)
    if state is None:
        state = rlif_initial_state(x[0], p)
    for t in state:
        check_state_shape(t.shape, x.shape[1:], sequence=True)
    return scan(lambda x_t, st: rlif_step(x_t, st, p), x, state)
