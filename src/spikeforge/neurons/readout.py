"""Non-spiking readout module: leaky integrator (LI) or pure integrator (``tau=None``)."""

from __future__ import annotations

import torch

from .._validation import check_choice, check_positive
from ..functional.lif import LIFParameters
from ..functional.readout import li_initial_state, li_sequence, li_step
from ..functional.state import LIState
from ..kernels import BACKENDS
from ..surrogates import ATan
from .base import SpikingNeuron
from .registry import NEURONS

# LI never fires, so its surrogate is never used; passing one instance instead of letting
# LIFParameters build its default keeps `forward` traceable by torch.compile (dynamo cannot
# run a dataclass default_factory inside a compiled graph).
_UNUSED_SURROGATE = ATan()


@NEURONS.register("li")
class LI(SpikingNeuron):
    """Membrane-potential readout (an IF/LIF neuron with infinite threshold).

    Args:
        tau: membrane time constant (>= 1); ``None`` integrates without leak.
        decay_input: LIF charge form (see :mod:`spikeforge.functional.lif`).
        backend: kernel of the ``"leaky"`` family (``"auto"``: the fused CPU kernel on
            CPU tensors).

    Input ``[T, B, ...]`` -> membrane ``[T, B, ...]``; state ``LIState(v)``.
    """

    state_keeps_non_finite = True  # V keeps NaN/inf (see SpikingNeuron)

    def __init__(
        self, tau: float | None = 2.0, decay_input: bool = True, backend: str = "auto"
    ) -> None:
        super().__init__()
        check_choice(backend, "backend", BACKENDS)
        self.backend = backend
        if tau is not None:
            check_positive(tau, "tau")
            if tau < 1.0:
                raise ValueError(f"tau must be >= 1 or None, got {tau}")
        self.tau = tau
        self.decay_input = decay_input

    def _dynamics(self) -> LIFParameters:
        if self.tau is None:
            return LIFParameters(charge="if", surrogate=_UNUSED_SURROGATE)
        return LIFParameters(
            inv_tau=1.0 / self.tau, decay_input=self.decay_input, surrogate=_UNUSED_SURROGATE
        )

    def initial_state(self, x_t: torch.Tensor) -> LIState:
        return li_initial_state(x_t, self._dynamics())

    def _run(self, x: torch.Tensor, state: LIState) -> tuple[torch.Tensor, LIState]:
        return li_sequence(x, state, self._dynamics(), backend=self.backend)

    def _step(self, x_t: torch.Tensor, state: LIState) -> tuple[torch.Tensor, LIState]:
        return li_step(x_t, state, self._dynamics())

    def extra_repr(self) -> str:
        return f"tau={self.tau}, decay_input={self.decay_input}"
