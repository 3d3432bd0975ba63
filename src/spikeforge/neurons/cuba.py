"""Current-based (synaptic) LIF module: ``I[t] = α I[t-1] + X[t]`` drives a LIF membrane."""

from __future__ import annotations

import torch

from ..functional.cuba import CuBaParameters, cuba_initial_state, cuba_sequence, cuba_step
from ..functional.state import CuBaState
from .lif import LIF
from .registry import NEURONS


@NEURONS.register("cuba")
class CuBa(LIF):
    """Second-order LIF (snnTorch ``Synaptic``): synaptic decay ``alpha`` ∈ [0, 1].

    Defaults to the non-decayed input form ``U[t] = β U[t-1] + I[t]``. Input
    ``[T, B, ...]`` -> spikes ``[T, B, ...]``; state ``CuBaState(i, v)``.

    ``backend`` picks both kernels: the ``"leaky"`` scan of the current and the ``"lif"``
    membrane (``"auto"``: fused on CPU; on CUDA the Triton LIF kernel and the reference
    scan, as ``"triton"`` has no ``"leaky"`` kernel yet).
    """

    def __init__(self, alpha: float = 0.5, **kwargs: object) -> None:
        kwargs.setdefault("decay_input", False)
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.alpha = float(alpha)
        self._dynamics()

    def _dynamics(self) -> CuBaParameters:
        return CuBaParameters(alpha=self.alpha, lif=self.parameters_for_dynamics())

    def initial_state(self, x_t: torch.Tensor) -> CuBaState:
        return cuba_initial_state(x_t, self._dynamics())

    def _run(self, x: torch.Tensor, state: CuBaState) -> tuple[torch.Tensor, CuBaState]:
        return cuba_sequence(x, state, self._dynamics(), backend=self.backend)

    def _step(self, x_t: torch.Tensor, state: CuBaState) -> tuple[torch.Tensor, CuBaState]:
        return cuba_step(x_t, state, self._dynamics())

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, {super().extra_repr()}"
