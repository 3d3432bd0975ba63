r"""IF / LIF / PLIF dynamics as pure functions over ``[T, B, ...]``.

Charge (``inv_tau`` = 1/τ):

- IF:                               ``H[t] = V[t-1] + X[t]``
- LIF, ``decay_input=True``:        ``H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) / τ``
- LIF, ``decay_input=False``:       ``H[t] = V[t-1] - (V[t-1] - V_reset) / τ + X[t]``
  (with ``V_reset = 0`` this is snnTorch's ``U[t] = β U[t-1] + X[t]``, ``β = 1 - 1/τ``)

Fire ``S[t] = Θ(H[t] - V_th)`` (fires at equality), then reset (see
:func:`~spikeforge.functional.reset.apply_reset`). PLIF is LIF with ``1/τ = sigmoid(w)``
passed in as a tensor. The initial state is ``V[-1] = V_reset`` unless given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .._validation import check_choice, check_finite, check_sequence, check_state_shape
from ..surrogates import ATan, Surrogate
from .backends import dispatch, register_kernel
from .reset import RESET_MODES, Scalar, apply_reset, fire
from .scan import scan
from .state import LIFState

CHARGE_MODES = ("if", "lif")


@dataclass(frozen=True)
class LIFParameters:
    """Everything that defines an IF/LIF/PLIF layer's dynamics.

    Tensor-valued fields (``inv_tau``, ``v_th``, ``spike_scale``) may be learnable and
    must broadcast to the per-step shape ``[B, ...]``.
    """

    charge: str = "lif"
    inv_tau: Scalar = 0.5
    v_th: Scalar = 1.0
    v_reset: float = 0.0
    reset: str = "zero"
    decay_input: bool = True
    detach_reset: bool = False
    surrogate: Surrogate = field(default_factory=ATan)
    spike_scale: Scalar | None = None  # graded spikes: S·g

    def __post_init__(self) -> None:
        check_choice(self.charge, "charge", CHARGE_MODES)
        check_choice(self.reset, "reset", RESET_MODES)
        if not isinstance(self.surrogate, Surrogate):
            raise TypeError(f"surrogate must be a Surrogate, got {type(self.surrogate).__name__}")
        if not isinstance(self.inv_tau, torch.Tensor) and not 0.0 <= self.inv_tau <= 1.0:
            raise ValueError(f"inv_tau = 1/tau must lie in [0, 1] (tau >= 1), got {self.inv_tau}")
        # Plain numbers only: checking a (learnable) tensor would cost a pass and a sync.
        if not isinstance(self.v_th, torch.Tensor):
            check_finite(self.v_th, "v_th")
        check_finite(self.v_reset, "v_reset")


def lif_charge(v: torch.Tensor, x: torch.Tensor, p: LIFParameters) -> torch.Tensor:
    """Membrane after charging, ``H[t]`` from ``V[t-1]`` and ``X[t]``."""
    if p.charge == "if":
        return v + x
    if p.decay_input:
        return v + (x - (v - p.v_reset)) * p.inv_tau
    return v - (v - p.v_reset) * p.inv_tau + x


def lif_initial_state(x_t: torch.Tensor, p: LIFParameters) -> LIFState:
    """Resting state ``V = V_reset`` for a step input of shape ``[B, ...]``."""
    return LIFState(v=torch.full_like(x_t, p.v_reset))


def lif_update(
    x_t: torch.Tensor, v: torch.Tensor, p: LIFParameters
) -> tuple[torch.Tensor, torch.Tensor]:
    """Charge, fire, reset: ``(S[t], V[t])`` (unscaled spikes) from ``X[t]``, ``V[t-1]``."""
    h = lif_charge(v, x_t, p)
    s = fire(h, p.v_th, p.surrogate)
    return s, apply_reset(h, s, p.reset, p.v_th, p.v_reset, p.detach_reset)


def lif_step(
    x_t: torch.Tensor, state: LIFState | None, p: LIFParameters
) -> tuple[torch.Tensor, LIFState]:
    """One step. ``x_t``: ``[B, ...]``; returns spikes ``[B, ...]`` and the new state."""
    if state is None:
        state = lif_initial_state(x_t, p)
    check_state_shape(state.v.shape, x_t.shape, sequence=False)
    s, v = lif_update(x_t, state.v, p)
    out = s if p.spike_scale is None else s * p.spike_scale
    return out, LIFState(v)


@register_kernel("lif", "torch")
def lif_sequence_reference(
    x: torch.Tensor, v0: torch.Tensor, p: LIFParameters
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain-torch reference kernel: unscaled spikes ``[T, B, ...]``, final ``V`` ``[B, ...]``."""
    return scan(lambda x_t, v: lif_update(x_t, v, p), x, v0)


def lif_sequence(
    x: torch.Tensor,
    state: LIFState | None = None,
    p: LIFParameters | None = None,
    backend: str = "auto",
) -> tuple[torch.Tensor, LIFState]:
    """Run IF/LIF/PLIF over a whole sequence.

    Args:
        x: input current ``[T, B, ...]``.
        state: carried state (``v``: ``[B, ...]``) or ``None`` to start from rest.
        p: dynamics; defaults to ``LIFParameters()`` (LIF, τ = 2, V_th = 1, hard reset).
        backend: ``"auto" | "torch" | "cpu" | "triton"`` (see :mod:`.backends`; the
            fused ones are registered by :mod:`spikeforge.kernels`).

    Returns:
        spikes ``[T, B, ...]`` (times ``spike_scale`` if graded) and the final state.
    """
    p = p if p is not None else LIFParameters()
    check_sequence(x)
    if state is None:
        state = lif_initial_state(x[0], p)
    check_state_shape(state.v.shape, x.shape[1:], sequence=True)
    kernel = dispatch("lif", backend, x, p)
    spikes, v = kernel(x, state.v, p)
    if p.spike_scale is not None:
        spikes = spikes * p.spike_scale
    return spikes, LIFState(v)
