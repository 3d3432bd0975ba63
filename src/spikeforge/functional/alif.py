r"""Adaptive-threshold LIF (ALIF) over ``[T, B, ...]``.

``θ[t] = V_th + b · a[t-1]``, ``a[t] = ρ a[t-1] + S[t]`` (so θ rises after each spike
and decays back with ρ). Charge as LIF; fire on ``H[t] >= θ[t]``; a subtractive reset
removes ``θ[t]``, a hard reset sets ``V_reset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .._validation import check_finite, check_sequence, check_state_shape
from .backends import dispatch, register_kernel
from .lif import LIFParameters, lif_charge
from .reset import Scalar, apply_reset, fire
from .scan import scan
from .state import ALIFState


@dataclass(frozen=True)
class ALIFParameters:
    """LIF dynamics plus adaptation strength ``b`` and adaptation decay ``rho`` ∈ [0, 1]."""

    lif: LIFParameters = field(default_factory=LIFParameters)
    b: Scalar = 0.2
    rho: float = 0.9

    def __post_init__(self) -> None:
        if not 0.0 <= self.rho <= 1.0:
            raise ValueError(f"rho (adaptation decay) must lie in [0, 1], got {self.rho}")
        if not isinstance(self.b, torch.Tensor):
            check_finite(self.b, "b (adaptation strength)")


def alif_initial_state(x_t: torch.Tensor, p: ALIFParameters) -> ALIFState:
    """Rest: ``V = V_reset``, no adaptation."""
    return ALIFState(v=torch.full_like(x_t, p.lif.v_reset), a=torch.zeros_like(x_t))


def alif_update(
    x_t: torch.Tensor, state: ALIFState, p: ALIFParameters
) -> tuple[torch.Tensor, ALIFState]:
    """Charge, fire against the adapted threshold, reset, adapt: unscaled ``S[t]`` and
    the new state."""
    lif = p.lif
    theta = lif.v_th + p.b * state.a
    h = lif_charge(state.v, x_t, lif)
    s = fire(h, theta, lif.surrogate)
    v = apply_reset(h, s, lif.reset, theta, lif.v_reset, lif.detach_reset)
    a = p.rho * state.a + s
    return s, ALIFState(v, a)


def alif_step(
    x_t: torch.Tensor, state: ALIFState | None, p: ALIFParameters
) -> tuple[torch.Tensor, ALIFState]:
    """One step; ``x_t`` ``[B, ...]`` -> spikes ``[B, ...]``, new state."""
    if state is None:
        state = alif_initial_state(x_t, p)
    for t in state:
        check_state_shape(t.shape, x_t.shape, sequence=False)
    s, state = alif_update(x_t, state, p)
    out = s if p.lif.spike_scale is None else s * p.lif.spike_scale
    return out, state


@register_kernel("alif", "torch")
def alif_sequence_reference(
    x: torch.Tensor, v0: torch.Tensor, a0: torch.Tensor, p: ALIFParameters
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Plain-torch reference kernel: unscaled spikes ``[T, B, ...]``, final ``V`` and ``a``."""
    spikes, state = scan(lambda x_t, st: alif_update(x_t, st, p), x, ALIFState(v0, a0))
    return spikes, state.v, state.a


def alif_sequence(
    x: torch.Tensor,
    state: ALIFState | None = None,
    p: ALIFParameters | None = None,
    backend: str = "auto",
) -> tuple[torch.Tensor, ALIFState]:
    """Run ALIF over ``x`` ``[T, B, ...]``; returns spikes ``[T, B, ...]`` and final state.

    ``backend`` picks the ``"alif"`` kernel (see :mod:`.backends`).
    """
    p = p if p is not None else ALIFParameters()
    check_sequence(x)
    if state is None:
        state = alif_initial_state(x[0], p)
    for t in state:
        check_state_shape(t.shape, x.shape[1:], sequence=True)
    spikes, v, a = dispatch("alif", backend, x, p)(x, state.v, state.a, p)
    if p.lif.spike_scale is not None:
        spikes = spikes * p.lif.spike_scale
    return spikes, ALIFState(v, a)
