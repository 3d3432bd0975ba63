r"""Current-based (synaptic, second-order) LIF over ``[T, B, ...]``.

``I[t] = α I[t-1] + X[t]`` (synaptic current), then the LIF charge of ``p.lif`` driven
by ``I[t]`` — with ``decay_input=False`` and ``V_reset = 0`` that is
``U[t] = β U[t-1] + I[t]``, ``β = 1 - 1/τ`` (snnTorch's ``Synaptic``) — then fire and
reset on the membrane.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .._validation import check_sequence, check_state_shape
from .leaky import LeakyParameters, leaky_scan
from .lif import LIFParameters, lif_sequence, lif_update
from .reset import Scalar
from .state import CuBaState, LIFState


def _snntorch_form() -> LIFParameters:
    return LIFParameters(decay_input=False)


@dataclass(frozen=True)
class CuBaParameters:
    """Synaptic decay ``alpha`` ∈ [0, 1] and the membrane's LIF dynamics."""

    alpha: Scalar = 0.5
    lif: LIFParameters = field(default_factory=_snntorch_form)

    def __post_init__(self) -> None:
        if not isinstance(self.alpha, torch.Tensor) and not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha (synaptic decay) must lie in [0, 1], got {self.alpha}")


def cuba_initial_state(x_t: torch.Tensor, p: CuBaParameters) -> CuBaState:
    """Rest: no current, ``V = V_reset``."""
    return CuBaState(i=torch.zeros_like(x_t), v=torch.full_like(x_t, p.lif.v_reset))


def cuba_step(
    x_t: torch.Tensor, state: CuBaState | None, p: CuBaParameters
) -> tuple[torch.Tensor, CuBaState]:
    """One step; ``x_t`` ``[B, ...]`` -> spikes ``[B, ...]``, new state."""
    if state is None:
        state = cuba_initial_state(x_t, p)
    for t in state:
        check_state_shape(t.shape, x_t.shape, sequence=False)
    i = p.alpha * state.i + x_t
    s, v = lif_update(i, state.v, p.lif)
    out = s if p.lif.spike_scale is None else s * p.lif.spike_scale
    return out, CuBaState(i, v)


def cuba_sequence(
    x: torch.Tensor,
    state: CuBaState | None = None,
    p: CuBaParameters | None = None,
    backend: str = "auto",
) -> tuple[torch.Tensor, CuBaState]:
    """Run CuBa LIF over ``x`` ``[T, B, ...]``; returns spikes and the final state.

    The current does not depend on the membrane, so the whole current sequence is one
    ``"leaky"`` scan and the membrane one ``"lif"`` sequence over it (``backend`` picks
    both kernels); each step's arithmetic is :func:`cuba_step`'s.
    """
    p = p if p is not None else CuBaParameters()
    check_sequence(x)
    if state is None:
        state = cuba_initial_state(x[0], p)
    for t in state:
        check_state_shape(t.shape, x.shape[1:], sequence=True)
    current, i_last = leaky_scan(x, state.i, LeakyParameters("decay", p.alpha), backend)
    spikes, lif_state = lif_sequence(current, LIFState(state.v), p.lif, backend)
    return spikes, CuBaState(i_last, lif_state.v)
