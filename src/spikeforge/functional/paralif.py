r"""ParaLIF spike functions and the max-over-time membrane objective (Arnaud Yarga & Wood, 2024).

All spike functions act pointwise (or with a one-step difference) on a whole membrane
sequence ``m`` ``[T, B, ...]``, so they are parallel in time. Names follow the paper /
official code:

- normalisation first: ``S*`` = sigmoid (SB, SD, ST), ``T*`` = tanh (TD, TT),
  ``TR*`` = ReLU∘tanh (TRB, TRD, TRT); none for GS, D, T.
- ``SB`` / ``TRB`` (stochastic): ``p = norm(m)``, ``s ~ Bernoulli(p)``; backward
  ``∂s/∂p := p`` (the paper's Eq. 18, as in the official code).
- ``GS`` (Gumbel-Softmax relaxed Bernoulli over the two classes {m, -m}, temperature τ,
  straight-through): ``y = σ((2m + L)/τ)``, ``L ~ Logistic(0, 1)`` (the difference of
  two Gumbel samples), ``s = 1[y > 0.5]``, gradient of ``y``.
- ``D`` / ``SD`` / ``TD`` / ``TRD`` (delta): ``z = norm(m)``,
  ``s[n] = Θ(z[n] - z[n-1] - Δ_th)`` with ``z[-1] = 0``; surrogate gradient.
- ``T`` / ``ST`` / ``TT`` / ``TRT`` (threshold, no reset): ``s = Θ(norm(m) - θ)``.

Deterministic spikes fire at equality (library convention, ``Θ(0) = 1``); the official
code fires strictly above.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from ..surrogates import Surrogate
from .parallel import shift_in_time
from .spike import spike

SPIKE_MODES = ("SB", "TRB", "GS", "D", "SD", "TD", "TRD", "T", "ST", "TT", "TRT")
STOCHASTIC_MODES = ("SB", "TRB", "GS")
DELTA_MODES = ("D", "SD", "TD", "TRD")
THRESHOLD_MODES = ("T", "ST", "TT", "TRT")


def _relu_tanh(m: torch.Tensor) -> torch.Tensor:
    return F.relu(torch.tanh(m))


def _identity(m: torch.Tensor) -> torch.Tensor:
    return m


def normaliser(mode: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The map applied to the membrane before spike generation for ``mode``."""
    check_spike_mode(mode)
    if mode.startswith("TR"):
        return _relu_tanh
    if mode in ("SB", "SD", "ST"):
        return torch.sigmoid
    if mode in ("TD", "TT"):
        return torch.tanh
    return _identity


def check_spike_mode(mode: Any) -> str:
    if mode not in SPIKE_MODES:
        raise ValueError(f"spike_fn must be one of {SPIKE_MODES}, got {mode!r}")
    return mode


class _BernoulliST(torch.autograd.Function):
    """``s ~ Bernoulli(p)``; backward ``grad · p`` (ParaLIF Eq. 18)."""

    @staticmethod
    def forward(p: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return torch.bernoulli(p, generator=generator)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (p,) = ctx.saved_tensors
        return grad * p, None


def bernoulli_spikes(p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample spikes with probability ``p ∈ [0, 1]``; gradient ``∂s/∂p := p``."""
    return _BernoulliST.apply(p.clamp(0.0, 1.0), generator)


def gumbel_softmax_spikes(
    m: torch.Tensor, tau: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Hard straight-through Gumbel-Softmax Bernoulli on logits ``(m, -m)``."""
    u = torch.rand(m.shape, dtype=m.dtype, device=m.device, generator=generator)
    u = u.clamp(torch.finfo(m.dtype).tiny, 1.0 - torch.finfo(m.dtype).eps)
    logistic = torch.log(u) - torch.log1p(-u)
    soft = torch.sigmoid((2.0 * m + logistic) / tau)
    hard = (soft > 0.5).to(m.dtype)
    # Forward value is exactly the hard sample ((soft - soft) is exactly 0), gradient is
    # that of the soft relaxation.
    return hard + (soft - soft.detach())


def paralif_spikes(
    m: torch.Tensor,
    mode: str,
    surrogate: Surrogate,
    threshold: float | torch.Tensor = 1.0,
    delta_threshold: float | torch.Tensor = 0.01,
    gs_tau: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Spikes ``[T, B, ...]`` from a membrane sequence ``m`` ``[T, B, ...]``.

    Args:
        m: membrane potentials over time.
        mode: one of :data:`SPIKE_MODES`.
        surrogate: backward for the deterministic (D*/T*) modes.
        threshold: ``θ`` of the T* modes, compared with ``norm(m)``.
        delta_threshold: ``Δ_th`` of the D* modes.
        gs_tau: Gumbel-Softmax temperature.
        generator: RNG for the stochastic modes.
    """
    z = normaliser(mode)(m)
    if mode in ("SB", "TRB"):
        return bernoulli_spikes(z, generator)
    if mode == "GS":
        return gumbel_softmax_spikes(z, gs_tau, generator)
    if mode in DELTA_MODES:
        return spike(z - shift_in_time(z) - delta_threshold, surrogate)
    return spike(z - threshold, surrogate)


def membrane_readout(m: torch.Tensor, reduce: str = "max") -> torch.Tensor:
    """Logits ``[B, C]`` from output membranes ``[T, B, C]``: ``max_t`` or ``mean_t``."""
    if reduce == "max":
        return m.amax(dim=0)
    if reduce == "mean":
        return m.mean(dim=0)
    raise ValueError(f"reduce must be 'max' or 'mean', got {reduce!r}")


def max_membrane_cross_entropy(
    m: torch.Tensor, target: torch.Tensor, reduce: str = "max"
) -> torch.Tensor:
    r"""ParaLIF's objective: ``CE(max_t m[t], y)`` (or mean over t) for ``m`` ``[T, B, C]``."""
    if m.dim() != 3:
        raise ValueError(f"m must be output membranes [T, B, C], got shape {tuple(m.shape)}")
    return F.cross_entropy(membrane_readout(m, reduce), target)
