r"""Non-spiking readout: a leaky integrator (LI) or, with ``charge="if"``, a pure integrator.

Uses the LIF charge of :class:`~spikeforge.functional.lif.LIFParameters` without firing
or reset (an IF/LIF neuron with infinite threshold) and returns the membrane itself,
``V[t]`` for every t — the output layer of most modern SNNs.
"""

from __future__ import annotations

import torch

from .._validation import check_sequence, check_state_shape
from .leaky import leaky_of_lif, leaky_scan
from .lif import LIFParameters, lif_charge
from .state import LIState


def li_initial_state(x_t: torch.Tensor, p: LIFParameters) -> LIState:
    """Rest: ``V = V_reset``."""
    return LIState(v=torch.full_like(x_t, p.v_reset))


def li_step(
    x_t: torch.Tensor, state: LIState | None, p: LIFParameters
) -> tuple[torch.Tensor, LIState]:
    """One step; returns the membrane ``V[t]`` ``[B, ...]`` (output and state)."""
    if state is None:
        state = li_initial_state(x_t, p)
    check_state_shape(state.v.shape, x_t.shape, sequence=False)
    v = lif_charge(state.v, x_t, p)
    return v, LIState(v)


def li_sequence(
    x: torch.Tensor,
    state: LIState | None = None,
    p: LIFParameters | None = None,
    backend: str = "auto",
) -> tuple[torch.Tensor, LIState]:
    """Membranes ``[T, B, ...]`` of a non-spiking integrator driven by ``x``; ``backend``
    picks the ``"leaky"`` kernel (see :mod:`spikeforge.functional.leaky`)."""
    p = p if p is not None else LIFParameters()
    check_sequence(x)
    if state is None:
        state = li_initial_state(x[0], p)
    check_state_shape(state.v.shape, x.shape[1:], sequence=True)
    v, v_last = leaky_scan(x, state.v, leaky_of_lif(p), backend)
    return v, LIState(v_last)
