r"""Parallel Spiking Units (Li et al., 2024): PSU, input-aware IPSU, reset-aware RPSU.

Leaky integration and firing are decoupled and the soft reset is handled with a spike
*estimate* (see :mod:`spikeforge.functional.psu`)::

    V = A X - V_th · R · σ(A X - V_th),     S = Θ(V - V_th)

``A`` ``[T, T]`` is the LIF integration matrix (``β^{t-i}/τ``, ``i ≤ t``) and ``R``
``[T, T]`` the soft-reset matrix (``β^{t-i}``, ``i < t``); σ = sigmoid. Two GEMMs
over ``[T, B·N]``, no loop over time.

- **PSU**: ``A``, ``R`` fixed by τ (buffers ``integration``, ``reset_matrix``).
- **IPSU** (input-aware): ``A`` learnable (initialised to the LIF matrix), causal
  (lower-triangular) mask kept; the learnable ``A`` is used for the integration and
  inside the spike estimate.
- **RPSU** (reset-aware): ``R`` learnable (initialised to ``β^{t-i}``), strictly
  lower-triangular mask kept; ``A`` fixed.

Parameterisation note: this follows METHODS.md §3.2. The paper's formula images are
missing from the reading notes and BrainCog's PSU source was not in the reference
store, so which matrices the paper makes learnable, and whether the estimate uses
``A X - V_th`` or ``A X``, was not verified against the original (see the report).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._validation import check_positive, check_sequence
from ..functional.parallel import lif_kernel_matrix, reset_kernel_matrix
from ..functional.psu import psu_membrane
from ..functional.spike import spike
from ..surrogates import SurrogateLike, get_surrogate
from .psn import ParallelNeuron, _check_steps_arg
from .registry import NEURONS


@NEURONS.register("psu")
class PSU(ParallelNeuron):
    r"""Parallel spiking unit over ``[T, B, ...]`` (fixed ``A`` and ``R``).

    Args:
        T: number of time steps (fixed; another T raises ``ValueError``).
        tau: membrane time constant (``β = 1 - 1/τ``), ``>= 1``.
        v_th: threshold.
        decay_input: ``A = β^{t-i}/τ`` (True) or ``β^{t-i}`` (False), as the LIF charge.
        surrogate: surrogate gradient of the output spike (the paper uses atan or PWL).
    """

    learn_integration = False
    learn_reset = False

    def __init__(
        self,
        T: int,
        tau: float = 2.0,
        v_th: float = 1.0,
        decay_input: bool = True,
        surrogate: SurrogateLike = "atan",
    ) -> None:
        super().__init__()
        self.T = _check_steps_arg(T)
        check_positive(v_th, "v_th")  # finite and > 0; tau: finite, >= 1 (kernel matrices)
        self.tau = float(tau)
        self.v_th = float(v_th)
        self.decay_input = decay_input
        self.surrogate = get_surrogate(surrogate)
        integration = lif_kernel_matrix(self.T, tau, decay_input)
        reset = reset_kernel_matrix(self.T, tau)
        # Causal masks: the learnable variants must never see future inputs.
        self.register_buffer("integration_mask", torch.tril(torch.ones(self.T, self.T)))
        self.register_buffer("reset_mask", torch.tril(torch.ones(self.T, self.T), diagonal=-1))
        if self.learn_integration:
            self.integration = nn.Parameter(integration)
        else:
            self.register_buffer("integration", integration)
        # ``reset_matrix``, not ``reset``: ``reset()`` is every neuron's (no-op) method.
        if self.learn_reset:
            self.reset_matrix = nn.Parameter(reset)
        else:
            self.register_buffer("reset_matrix", reset)

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        # Checkpoints written before the rename hold R as ``<prefix>reset``.
        old = prefix + "reset"
        if old in state_dict and prefix + "reset_matrix" not in state_dict:
            state_dict[prefix + "reset_matrix"] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def matrices(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Effective ``(A, R)``, causal masks applied to learnable ones."""
        a = self.integration * self.integration_mask if self.learn_integration else self.integration
        r = self.reset_matrix * self.reset_mask if self.learn_reset else self.reset_matrix
        return a, r

    def membrane(self, x: torch.Tensor) -> torch.Tensor:
        """``V`` ``[T, B, ...]`` before firing."""
        check_sequence(x, f"{type(self).__name__} input")
        self._check_steps(x, self.T)
        a, r = self.matrices()
        return psu_membrane(x, a, r, self.v_th)

    def _parallel(self, x: torch.Tensor) -> torch.Tensor:
        return spike(self.membrane(x) - self.v_th, self.surrogate)

    def extra_repr(self) -> str:
        return f"T={self.T}, tau={self.tau}, v_th={self.v_th}, surrogate={self.surrogate}"


@NEURONS.register("ipsu")
class IPSU(PSU):
    """Input-aware PSU: learnable causal integration matrix ``A`` (init: LIF kernel)."""

    learn_integration = True


@NEURONS.register("rpsu")
class RPSU(PSU):
    """Reset-aware PSU: learnable strictly-causal reset matrix ``R`` (init: ``β^{t-i}``)."""

    learn_reset = True
