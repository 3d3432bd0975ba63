"""Adaptive-threshold LIF module (``θ[t] = V_th + b·a[t-1]``, ``a[t] = ρ a[t-1] + S[t]``)."""

from __future__ import annotations

import torch

from ..functional.alif import ALIFParameters, alif_initial_state, alif_sequence, alif_step
from ..functional.state import ALIFState
from .lif import LIF
from .registry import NEURONS


@NEURONS.register("alif")
class ALIF(LIF):
    """LIF whose threshold rises by ``b`` per spike and relaxes with ``rho``.

    Takes every :class:`~spikeforge.neurons.LIF` option plus ``b`` (adaptation
    strength) and ``rho`` (adaptation decay). Input ``[T, B, ...]`` -> spikes
    ``[T, B, ...]``; state ``ALIFState(v, a)``, each ``[B, ...]``.
    """

    def __init__(self, b: float = 0.2, rho: float = 0.9, **kwargs: object) -> None:
        kwargs.setdefault("reset", "subtract")
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.b = float(b)
        self.rho = float(rho)
        self._dynamics()  # validate b/rho now, not at first call

    def _dynamics(self) -> ALIFParameters:
        return ALIFParameters(lif=self.parameters_for_dynamics(), b=self.b, rho=self.rho)

    def initial_state(self, x_t: torch.Tensor) -> ALIFState:
        return alif_initial_state(x_t, self._dynamics())

    def _run(self, x: torch.Tensor, state: ALIFState) -> tuple[torch.Tensor, ALIFState]:
        return alif_sequence(x, state, self._dynamics(), backend=self.backend)

    def _step(self, x_t: torch.Tensor, state: ALIFState) -> tuple[torch.Tensor, ALIFState]:
        return alif_step(x_t, state, self._dynamics())

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, b={self.b}, rho={self.rho}"
