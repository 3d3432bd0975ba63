r"""``stdp_wta``: one excitatory layer of winner-take-all LIF neurons with adaptive
thresholds, for unsupervised STDP (Diehl & Cook, Frontiers 2015, simplified), and a linear
readout fitted on its spike counts.

Dynamics, per time step ``t`` (``x[t]`` the input spikes ``[B, I]``, flattened per step):

- input current ``I[t] = W x[t]``, with ``W`` ``[N, I]`` the excitatory synapses;
- membrane (the library's LIF without input decay, ``V_reset = 0``)
  ``H[t] = (1 - 1/τ) V[t-1] + I[t]``;
- adaptive threshold ``V_th + θ_j`` per neuron (``θ`` a buffer, homeostasis below);
- winner-take-all: among the neurons whose membrane reaches its threshold
  (``H_j ≥ V_th + θ_j``, the library's firing convention) only the one with the largest
  margin ``H_j - V_th - θ_j`` fires (ties: the lowest index), ``S[t]`` is one-hot or zero;
- lateral inhibition: when a neuron fires, every membrane of the layer is reset to 0
  (``V[t] = 0``), otherwise ``V[t] = H[t]``.

Diehl & Cook's inhibitory population (one inhibitory neuron per excitatory one, inhibiting
all others) is here instantaneous and strong enough to reset the whole layer: a hard
winner-take-all, which is what their strong inhibition amounts to, without a second
population to simulate.

Homeostasis (Diehl & Cook's adaptive threshold, applied between batches by the training
method through :meth:`WTALIF.adapt`, never in a forward): every spike raises its neuron's
``θ`` by ``θ₊`` and ``θ`` decays with a time constant ``τ_θ`` counted in training samples,
``θ ← θ · exp(-B/τ_θ) + θ₊ Σ_{t,b} S[t, b]``. A neuron that wins often becomes harder to
fire, so every neuron gets to learn a pattern. ``θ`` is fixed while a batch runs and at
evaluation.

Weight normalisation (as Diehl & Cook): every excitatory neuron's incoming weights are
non-negative and sum to ``weight_sum`` (default ``0.1 · I``, their 78 for 784 inputs),
after initialisation and after every update (:meth:`STDPWTA.apply_update`).

Readout: ``y[t] = R S[t] + b`` ``[T, B, C]``, so ``mean_t y[t] = R c + b`` with
``c = Σ_t S[t] / T`` the spike-count features; ``R``, ``b`` (an ``nn.Linear``) are set in
closed form by the training method (ridge regression of one-hot labels on ``c``), never
by the optimiser: no gradient flows anywhere in this model. Zero until fitted.

``W``, ``θ`` are buffers and the readout a module, so all three are in the state dict
(checkpoints, ``spikeforge eval``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from .._validation import check_sequence
from ..neurons.base import SpikingNeuron
from .registry import MODELS


class WTAState(NamedTuple):
    """Membrane ``v`` ``[B, N]``."""

    v: torch.Tensor


class WTALIF(SpikingNeuron):
    """LIF neurons with adaptive thresholds and a hard winner-take-all (see the module
    docstring). Input: currents ``[T, B, N]``; output: spikes ``[T, B, N]``, at most one
    per step and sample.

    Args:
        size: number of neurons N.
        tau: membrane time constant in steps (> 1): ``V ← (1 - 1/τ) V + I``.
        v_th: base threshold (> 0).
        theta_plus: threshold increase per spike (>= 0).
        theta_tau: threshold decay time constant, in training samples (> 0).
    """

    state_keeps_non_finite = True

    def __init__(
        self,
        size: int,
        tau: float = 20.0,
        v_th: float = 8.0,
        theta_plus: float = 0.05,
        theta_tau: float = 2000.0,
    ) -> None:
        super().__init__()
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive int, got {size!r}")
        if not (isinstance(tau, int | float) and tau > 1):
            raise ValueError(f"tau must be a number > 1 (steps), got {tau!r}")
        if not (isinstance(v_th, int | float) and v_th > 0):
            raise ValueError(f"v_th must be a positive number, got {v_th!r}")
        if not (isinstance(theta_plus, int | float) and theta_plus >= 0):
            raise ValueError(f"theta_plus must be a number >= 0, got {theta_plus!r}")
        if not (isinstance(theta_tau, int | float) and theta_tau > 0):
            raise ValueError(f"theta_tau must be a positive number, got {theta_tau!r}")
        self.size = size
        self.tau = float(tau)
        self.v_th = float(v_th)
        self.theta_plus = float(theta_plus)
        self.theta_tau = float(theta_tau)
        self.register_buffer("theta", torch.zeros(size))

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, tau={self.tau}, v_th={self.v_th}, "
            f"theta_plus={self.theta_plus}, theta_tau={self.theta_tau}"
        )

    def initial_state(self, x_t: torch.Tensor) -> WTAState:
        return WTAState(torch.zeros_like(x_t))

    def _step(self, x_t: torch.Tensor, state: WTAState) -> tuple[torch.Tensor, WTAState]:
        if x_t.shape[-1] != self.size:
            raise ValueError(
                f"WTALIF of {self.size} neurons got currents of shape {tuple(x_t.shape)}"
            )
        h = (1.0 - 1.0 / self.tau) * state.v + x_t
        margin = h - (self.v_th + self.theta.to(h.dtype))
        best, winner = margin.max(-1)  # the first index among equal margins
        fired = best >= 0
        spikes = torch.zeros_like(h)
        spikes.scatter_(-1, winner.unsqueeze(-1), fired.unsqueeze(-1).to(h.dtype))
        v = torch.where(fired.unsqueeze(-1), torch.zeros_like(h), h)
        return spikes, WTAState(v)

    def _run(self, x: torch.Tensor, state: WTAState) -> tuple[torch.Tensor, WTAState]:
        out = []
        for t in range(x.shape[0]):
            s, state = self._step(x[t], state)
            out.append(s)
        return torch.stack(out), state

    @torch.no_grad()
    def adapt(self, spikes: torch.Tensor) -> None:
        """Homeostasis after a training batch ``spikes`` ``[T, B, N]``:
        ``θ ← θ · exp(-B/τ_θ) + θ₊ Σ_{t,b} S``."""
        batch = spikes.shape[1]
        decay = math.exp(-batch / self.theta_tau)
        self.theta.mul_(decay).add_(self.theta_plus * spikes.sum((0, 1)).to(self.theta.dtype))


class STDPWTA(nn.Module):
    """Input spikes ``[T, B, ...]`` → WTA spikes ``[T, B, N]`` → readout ``[T, B, C]``.

    Args:
        in_features: size of one flattened input step.
        num_classes: readout classes.
        neurons: excitatory neurons N.
        weight_sum: the sum of every neuron's incoming weights (default ``0.1 ·
            in_features``).
        neuron_kwargs: :class:`WTALIF` options (``tau``, ``v_th``, ``theta_plus``,
            ``theta_tau``).

    The initial weights are uniform in ``[0, 1)`` (from the global RNG), then normalised.
    """

    readout_kind = "membrane"  # outputs: the linear readout's analog values (models/output.py)

    def __init__(
        self,
        in_features: int,
        num_classes: int = 10,
        neurons: int = 100,
        weight_sum: float | None = None,
        neuron_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(in_features, int) or in_features < 1:
            raise ValueError(f"in_features must be a positive int, got {in_features!r}")
        if not isinstance(neurons, int) or neurons < 1:
            raise ValueError(f"neurons must be a positive int, got {neurons!r}")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if weight_sum is None:
            weight_sum = 0.1 * in_features
        if not (isinstance(weight_sum, int | float) and weight_sum > 0):
            raise ValueError(f"weight_sum must be a positive number, got {weight_sum!r}")
        self.in_features = in_features
        self.num_classes = num_classes
        self.neurons = neurons
        self.weight_sum = float(weight_sum)
        self.register_buffer("weight", torch.rand(neurons, in_features))
        self.normalise_()
        self.excitatory = WTALIF(neurons, **dict(neuron_kwargs or {}))
        self.readout = nn.Linear(neurons, num_classes)
        nn.init.zeros_(self.readout.weight)
        nn.init.zeros_(self.readout.bias)
        for p in self.readout.parameters():  # fitted in closed form, not by an optimiser
            p.requires_grad_(False)

    @torch.no_grad()
    def normalise_(self) -> None:
        """Clip the weights at 0 and scale each neuron's incoming weights to sum to
        ``weight_sum`` (a neuron whose weights are all 0 gets uniform ones)."""
        w = self.weight.clamp_(min=0.0)
        total = w.sum(1, keepdim=True)
        dead = total.squeeze(1) <= 0
        if bool(dead.any()):
            w[dead] = 1.0
            total = w.sum(1, keepdim=True)
        w.mul_(self.weight_sum / total)

    @torch.no_grad()
    def apply_update(self, delta: torch.Tensor) -> None:
        """``W ← normalise(max(W + ΔW, 0))`` for ``delta`` ``[N, I]``."""
        if delta.shape != self.weight.shape:
            raise ValueError(
                f"weight update of shape {tuple(delta.shape)} for weights of shape "
                f"{tuple(self.weight.shape)}"
            )
        self.weight.add_(delta.to(self.weight.dtype))
        self.normalise_()

    def flatten_input(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, ...]`` → ``[T, B, in_features]`` (checked)."""
        check_sequence(x, "STDPWTA input", min_dim=3)
        flat = x.flatten(2)
        if flat.shape[2] != self.in_features:
            raise ValueError(
                f"STDPWTA expects {self.in_features} features per step and sample, got "
                f"{flat.shape[2]} from input shape {tuple(x.shape)} ([T, B, ...] expected)"
            )
        return flat

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, ...]`` → WTA spikes ``[T, B, N]``."""
        flat = self.flatten_input(x)
        return self.excitatory(flat @ self.weight.to(flat.dtype).T)

    def forward_head(self, spikes: torch.Tensor) -> torch.Tensor:
        """Spikes ``[T, B, N]`` → per-step scores ``[T, B, C]`` (mean over T: ``R c + b``)."""
        return self.readout(spikes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@MODELS.register("stdp_wta")
def stdp_wta(
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int | Sequence[int] = 28,
    in_features: int | None = None,
    neurons: int = 100,
    weight_sum: float | None = None,
    neuron: str = "lif",
    neuron_kwargs: Mapping[str, Any] | None = None,
    surrogate: Any = None,
) -> STDPWTA:
    """The STDP winner-take-all network (train it with ``train.method=stdp``).

    ``in_features`` defaults to ``in_channels · H · W`` (``input_size`` = side or
    ``(H, W)``). Its neurons are its own: ``neuron`` must be ``"lif"`` (the engine's
    default) and ``neuron_kwargs`` are :class:`WTALIF`'s options; ``surrogate`` is
    accepted and unused (nothing is differentiated).
    """
    if neuron != "lif":
        raise ValueError(
            f"stdp_wta has its own winner-take-all LIF neurons; model.neuron must be lif, "
            f"got {neuron!r} (set their options in model.neuron_kwargs)"
        )
    if in_features is None:
        sides = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        in_features = in_channels * math.prod(sides)
    return STDPWTA(in_features, num_classes, neurons, weight_sum, neuron_kwargs)
