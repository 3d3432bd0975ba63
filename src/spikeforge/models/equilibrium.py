r"""Equilibrium spiking networks trained by implicit differentiation (the training scheme of
SpikingBERT, Bal & Sengupta, AAAI 2024, after Xiao et al.'s IDE, NeurIPS 2021).

A recurrent layer of IF neurons (subtractive reset) driven by a constant input current
``u = U x̄ + b`` settles into firing rates that satisfy a fixed point of

    ``f(a) = clamp((W a + u) / V_th, 0, 1)``,

where ``a`` is the weighted average spike rate
``a[t] = Σ_{τ≤t} γ^{t-τ} S[τ] / Σ_{τ≤t} γ^{t-τ}``. The forward pass simulates ``t_conv``
steps without an autograd graph and reads ``a*``; the backward pass differentiates the
fixed point implicitly, ``∂L/∂θ = ∂L/∂a* (I - J_f(a*))⁻¹ ∂f/∂θ``, solving the linear system
by fixed-point iteration on ``g = ∂L/∂a* + J_fᵀ g`` (``backward="implicit"``), or takes the
one-step "phantom" approximation ``g = ∂L/∂a*`` (``backward="phantom"``). The iteration
converges only while ``J_f(a*)`` is a contraction; a solve that has not converged within
``solver_iters`` falls back to the phantom gradient and is counted
(``unconverged_solves``). Either way the
memory is that of one application of ``f``, whatever ``t_conv`` is.

``equilibrium="iterate"`` finds ``a*`` by iterating ``f`` itself instead of simulating
spikes (the exact fixed point of the rate equation, for analysis and tests).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._validation import check_choice, check_sequence
from ..surrogates import SurrogateLike
from ._common import neuron_settings
from .registry import MODELS

BACKWARDS = ("implicit", "phantom")
EQUILIBRIA = ("spikes", "iterate")


def weighted_rate(spikes: torch.Tensor, gamma: float) -> torch.Tensor:
    """``a[T-1]`` of ``spikes`` ``[T, B, N]``: the γ-weighted average over time ``[B, N]``."""
    num = torch.zeros_like(spikes[0])
    den = 0.0
    for s in spikes:
        num = gamma * num + s
        den = gamma * den + 1.0
    return num / den


class EquilibriumSpikingLayer(nn.Module):
    """IF neurons with recurrent weights ``W`` ``[width, width]`` driven to equilibrium.

    Input ``x`` ``[B, in_features]`` (a rate or any static current); output the
    equilibrium rates ``[B, width]`` in ``[0, 1]``.

    Args:
        in_features, width: sizes.
        t_conv: simulated steps to reach equilibrium (``equilibrium="spikes"``).
        gamma: weight decay of the average rate (1: the plain average).
        v_th: firing threshold ``V_th``.
        backward: ``"implicit"`` or ``"phantom"`` (see the module docstring).
        equilibrium: ``"spikes"`` (simulate the SNN) or ``"iterate"`` (iterate ``f``).
        solver_iters: at most this many iterations of each fixed-point solve.
        tol: a solve stops when its update's max-norm falls below ``tol`` times the
            largest magnitude of its right-hand side.
        recurrent_scale: ``W`` is initialised uniform in ``±recurrent_scale/√width``.
        spectral_bound: ``W`` is used scaled down to this spectral norm when it exceeds
            it (exact σ, once per forward), so that ``‖J_f‖ ≤ spectral_bound / V_th``:
            below 1 the fixed point is unique and the adjoint solve converges. ``None``
            leaves ``W`` free (then the solve may not converge, see above).
    """

    def __init__(
        self,
        in_features: int,
        width: int,
        t_conv: int = 32,
        gamma: float = 1.0,
        v_th: float = 1.0,
        backward: str = "implicit",
        equilibrium: str = "spikes",
        solver_iters: int = 100,
        tol: float = 1e-5,
        recurrent_scale: float = 0.5,
        spectral_bound: float | None = 0.9,
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("width", width), ("t_conv", t_conv),
                            ("solver_iters", solver_iters)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must lie in (0, 1], got {gamma!r}")
        if not v_th > 0:
            raise ValueError(f"v_th must be positive, got {v_th!r}")
        if spectral_bound is not None and not spectral_bound > 0:
            raise ValueError(f"spectral_bound must be positive or None, got {spectral_bound!r}")
        self.spectral_bound = None if spectral_bound is None else float(spectral_bound)
        self.backward_mode = check_choice(backward, "backward", BACKWARDS)
        self.equilibrium = check_choice(equilibrium, "equilibrium", EQUILIBRIA)
        self.t_conv, self.gamma, self.v_th = t_conv, float(gamma), float(v_th)
        self.solver_iters, self.tol = solver_iters, float(tol)
        self.input = nn.Linear(in_features, width)
        self.recurrent = nn.Linear(width, width, bias=False)
        bound = recurrent_scale / math.sqrt(width)
        nn.init.uniform_(self.recurrent.weight, -bound, bound)
        self.last_solver_iters = 0  # iterations the last backward solve took
        self.solves = 0  # backward solves so far, and how many did not converge (those
        self.unconverged_solves = 0  # fall back to the phantom gradient)

    def recurrent_weight(self) -> torch.Tensor:
        """``W`` ``[width, width]`` as used: scaled down to ``spectral_bound`` if above it."""
        w = self.recurrent.weight
        if self.spectral_bound is None:
            return w
        sigma = torch.linalg.matrix_norm(w, ord=2)
        return w * torch.clamp(self.spectral_bound / sigma, max=1.0)

    def f(self, a: torch.Tensor, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """One application of the rate map ``clamp((W a + u) / V_th, 0, 1)``."""
        return torch.clamp((a @ w.T + u) / self.v_th, 0.0, 1.0)

    @torch.no_grad()
    def simulate(self, u: torch.Tensor, w: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """Spikes ``[steps, B, width]`` of the IF layer under the constant current ``u``."""
        v = torch.zeros_like(u)
        s = torch.zeros_like(u)
        out = []
        for _ in range(self.t_conv if steps is None else steps):
            v = v + u + s @ w.T  # recurrent input: the previous step's spikes
            s = (v >= self.v_th).to(u.dtype)
            v = v - self.v_th * s
            out.append(s)
        return torch.stack(out)

    @torch.no_grad()
    def fixed_point(self, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``a*`` ``[B, width]`` by the configured route (no graph)."""
        if self.equilibrium == "spikes":
            return weighted_rate(self.simulate(u, w), self.gamma)
        a = torch.zeros_like(u)
        for _ in range(self.solver_iters):
            new = self.f(a, u, w)
            done = float((new - a).abs().max()) < self.tol  # rates lie in [0, 1]
            a = new
            if done:
                break
        return a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, in_features]`` -> equilibrium rates ``[B, width]``."""
        u, w = self.input(x), self.recurrent_weight()
        a_star = self.fixed_point(u, w.detach())
        if not torch.is_grad_enabled():
            return a_star
        a = self.f(a_star, u, w)  # the one application whose graph carries ∂f/∂θ
        if self.backward_mode == "implicit" and a.requires_grad:
            # a second application at a*, whose graph gives the products J_fᵀ g
            a0 = a_star.requires_grad_(True)
            f0 = self.f(a0, u.detach(), w.detach())
            a.register_hook(lambda grad: self._solve_adjoint(f0, a0, grad))
        return a

    def _solve_adjoint(
        self, f0: torch.Tensor, a0: torch.Tensor, grad: torch.Tensor
    ) -> torch.Tensor:
        """``g = (I - J_fᵀ)⁻¹ grad`` (:func:`solve_adjoint`), counted."""
        self.solves += 1
        g, self.last_solver_iters, converged = solve_adjoint(
            f0, a0, grad, self.solver_iters, self.tol
        )
        self.unconverged_solves += not converged
        return g


def solve_adjoint(
    f0: torch.Tensor, z0: torch.Tensor, grad: torch.Tensor, iters: int, tol: float
) -> tuple[torch.Tensor, int, bool]:
    """``w = (I − J_fᵀ)⁻¹ grad`` by iterating ``w ← grad + J_fᵀ w`` (``f0 = f(z0)`` with a
    graph to ``z0``, shapes of ``z0``); returns ``(w, iterations, converged)``.

    Not converged (``J_f`` is no contraction at the fixed point, e.g. the weights grew in
    training): the iteration's partial sum is no solution, so ``grad`` itself — the
    bounded phantom gradient — is returned.
    """
    w = grad
    for k in range(1, iters + 1):
        (jtw,) = torch.autograd.grad(f0, z0, w, retain_graph=True)
        new = grad + jtw
        step = float((new - w).abs().max())
        w = new
        if step <= tol * max(float(w.abs().max()), 1e-30):
            return w, k, True
        if not math.isfinite(step):
            break
    return grad, iters, False


class EquilibriumSNN(nn.Module):
    """:class:`EquilibriumSpikingLayer` on the time-averaged input, and a linear readout.

    Input ``[T, B, ...]`` (flattened per step; the layer sees the mean over T, the input's
    rate); output ``[1, B, num_classes]`` — one step, as the objectives expect ``[T, B, C]``.
    """

    readout_kind = "membrane"  # outputs: the linear readout of the rates (see models/output.py)

    #: Its input is the mean over the whole sequence (step-by-step training refuses it).
    runs_whole_sequence = True

    def __init__(self, in_features: int, num_classes: int, width: int = 256, **layer: Any):
        super().__init__()
        self.in_features = in_features
        self.layer = EquilibriumSpikingLayer(in_features, width, **layer)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, "EquilibriumSNN input", min_dim=3)
        flat = x.flatten(2)
        if flat.shape[2] != self.in_features:
            raise ValueError(
                f"EquilibriumSNN expects {self.in_features} features per step and sample, "
                f"got {flat.shape[2]} from input shape {tuple(x.shape)}"
            )
        return self.fc(self.layer(flat.mean(0)))[None]


@MODELS.register("equilibrium_snn")
def equilibrium_snn(
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int | Sequence[int] = 28,
    in_features: int | None = None,
    width: int = 256,
    neuron: str = "if",
    surrogate: SurrogateLike | None = None,
    neuron_kwargs: dict[str, Any] | None = None,
    **layer: Any,
) -> EquilibriumSNN:
    """One equilibrium IF layer and a readout (``layer`` options as
    :class:`EquilibriumSpikingLayer`). The neurons are IF by construction (the rate
    equation is theirs), so ``neuron`` must be ``"if"``; no surrogate is used (gradients
    come from implicit differentiation), so ``surrogate`` is only checked, then ignored;
    ``neuron_kwargs`` may set ``v_th``."""
    if neuron != "if":
        raise ValueError(
            f"equilibrium_snn is built from IF neurons (its rate equation is theirs); set "
            f"model.neuron=if, got {neuron!r}"
        )
    extra = dict(neuron_settings(neuron, surrogate, neuron_kwargs).options)
    extra.pop("surrogate")  # checked (one surrogate, known options), not used
    if set(extra) - {"v_th"}:
        raise ValueError(f"equilibrium_snn takes only v_th in neuron_kwargs, got {sorted(extra)}")
    if in_features is None:
        sides = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        in_features = in_channels * math.prod(sides)
    return EquilibriumSNN(in_features, num_classes, width, **extra, **layer)
