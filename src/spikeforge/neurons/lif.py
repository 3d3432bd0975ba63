r"""IF, LIF and PLIF modules (one class family over :func:`~spikeforge.functional.lif_sequence`).

Options shared by all three (they are options, not separate classes):
``reset`` ∈ {"zero", "subtract", "none"} (stored as ``reset_mode``: ``reset()`` is the
no-op every neuron has, see :meth:`SpikingNeuron.reset`), ``detach_reset``, ``learn_threshold``,
``learn_decay`` (``1/τ = sigmoid(w)``, as PLIF), ``graded`` (output ``g·S`` with ``g``
learnable), ``param_shape`` (shape of learnable parameters, e.g. ``(C, 1, 1)`` for
per-channel in a conv net; ``()`` = one per layer), ``backend`` (kernel choice).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validation import check_choice, check_finite, check_positive
from ..functional.lif import LIFParameters, lif_initial_state, lif_sequence, lif_step
from ..functional.reset import RESET_MODES
from ..functional.state import LIFState
from ..kernels import BACKENDS
from ..surrogates import SurrogateLike, get_surrogate
from .base import SpikingNeuron
from .registry import NEURONS


def _check_tau(tau: float, learn_decay: bool) -> None:
    check_positive(tau, "tau")  # finite and > 0
    if tau < 1.0 or (learn_decay and tau <= 1.0):
        bound = "> 1 (learnable 1/tau = sigmoid(w) needs 1/tau < 1)" if learn_decay else ">= 1"
        raise ValueError(f"tau must be {bound}, got {tau}")


@NEURONS.register("lif")
class LIF(SpikingNeuron):
    r"""Leaky integrate-and-fire neuron over ``[T, B, ...]``.

    ``H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset))/τ`` (``decay_input=True``) or
    ``H[t] = V[t-1] - (V[t-1] - V_reset)/τ + X[t]``; ``S[t] = Θ(H[t] - V_th)`` (fires
    at equality); reset per ``reset``.

    Shapes: input ``[T, B, ...]`` -> spikes ``[T, B, ...]``; state ``LIFState(v [B, ...])``.
    """

    charge = "lif"
    state_keeps_non_finite = True  # V keeps NaN/inf (see SpikingNeuron); so do subclasses'

    def __init__(
        self,
        tau: float = 2.0,
        v_th: float = 1.0,
        v_reset: float = 0.0,
        reset: str = "zero",
        decay_input: bool = True,
        detach_reset: bool = False,
        surrogate: SurrogateLike = "atan",
        learn_threshold: bool = False,
        learn_decay: bool = False,
        graded: bool = False,
        param_shape: tuple[int, ...] = (),
        backend: str = "auto",
    ) -> None:
        super().__init__()
        check_choice(reset, "reset", RESET_MODES)
        check_choice(backend, "backend", BACKENDS)
        if self.charge == "lif":
            _check_tau(tau, learn_decay)
        if not isinstance(v_th, int | float) or v_th <= 0:
            raise ValueError(f"v_th must be a positive number, got {v_th!r}")
        check_finite(v_th, "v_th")
        check_finite(v_reset, "v_reset")
        self.tau = float(tau)
        self.v_reset = float(v_reset)
        self.reset_mode = reset  # not `reset`: that is SpikingNeuron.reset(), a no-op
        self.decay_input = decay_input
        self.detach_reset = detach_reset
        self.surrogate = get_surrogate(surrogate)
        self.backend = backend
        shape = tuple(param_shape)
        if learn_threshold:
            self.v_th = nn.Parameter(torch.full(shape, float(v_th)))
        else:
            self.v_th = float(v_th)
        self.decay_logit: nn.Parameter | None = None
        if learn_decay:
            # sigmoid(w) = 1/τ keeps the leak rate in (0, 1) while w is unconstrained.
            self.decay_logit = nn.Parameter(torch.full(shape, -math.log(self.tau - 1.0)))
        self.spike_scale = nn.Parameter(torch.ones(shape)) if graded else None

    @property
    def inv_tau(self) -> float | torch.Tensor:
        """Current leak rate ``1/τ`` (a tensor when learnable)."""
        if self.decay_logit is not None:
            return torch.sigmoid(self.decay_logit)
        return 1.0 / self.tau

    def parameters_for_dynamics(self) -> LIFParameters:
        """The :class:`LIFParameters` this module runs with (built per call)."""
        return LIFParameters(
            charge=self.charge,
            inv_tau=self.inv_tau if self.charge == "lif" else 0.0,
            v_th=self.v_th,
            v_reset=self.v_reset,
            reset=self.reset_mode,
            decay_input=self.decay_input,
            detach_reset=self.detach_reset,
            surrogate=self.surrogate,
            spike_scale=self.spike_scale,
        )

    def initial_state(self, x_t: torch.Tensor) -> LIFState:
        return lif_initial_state(x_t, self.parameters_for_dynamics())

    def _run(self, x: torch.Tensor, state: LIFState) -> tuple[torch.Tensor, LIFState]:
        return lif_sequence(x, state, self.parameters_for_dynamics(), backend=self.backend)

    def _step(self, x_t: torch.Tensor, state: LIFState) -> tuple[torch.Tensor, LIFState]:
        return lif_step(x_t, state, self.parameters_for_dynamics())

    def extra_repr(self) -> str:
        parts = [] if self.charge == "if" else [f"tau={self.tau}"]
        v_th = "learnable" if isinstance(self.v_th, nn.Parameter) else self.v_th
        parts += [f"v_th={v_th}", f"v_reset={self.v_reset}", f"reset={self.reset_mode!r}"]
        if self.charge == "lif":
            parts.append(f"decay_input={self.decay_input}")
        if self.decay_logit is not None:
            parts.append("learn_decay=True")
        if self.spike_scale is not None:
            parts.append("graded=True")
        parts += [f"detach_reset={self.detach_reset}", f"surrogate={self.surrogate}"]
        if self.backend != "auto":
            parts.append(f"backend={self.backend!r}")
        return ", ".join(parts)


@NEURONS.register("if")
class IF(LIF):
    """Integrate-and-fire: ``H[t] = V[t-1] + X[t]`` (no leak); same options as :class:`LIF`."""

    charge = "if"

    def __init__(self, v_th: float = 1.0, **kwargs: object) -> None:
        for key in ("tau", "decay_input", "learn_decay"):
            if key in kwargs:
                raise TypeError(f"IF has no leak: unexpected option {key!r}")
        super().__init__(v_th=v_th, **kwargs)  # type: ignore[arg-type]


@NEURONS.register("plif")
class PLIF(LIF):
    """Parametric LIF (Fang et al., 2021): LIF with learnable ``1/τ = sigmoid(w)``."""

    def __init__(self, tau: float = 2.0, **kwargs: object) -> None:
        kwargs.setdefault("learn_decay", True)
        super().__init__(tau=tau, **kwargs)  # type: ignore[arg-type]
