r"""e-prop (Bellec et al., Nature Communications 2020) for a recurrent LIF layer with a
leaky readout: gradients computed forward in time, with no backward pass.

The network (:class:`EpropRSNN`): ``H[t] = α V[t-1] + W_in x[t] + W_rec z[t-1]``,
``z[t] = Θ(H[t] - V_th)``, ``V[t] = H[t] - V_th z[t]`` (soft reset, its gradient dropped as
e-prop does), readout ``y[t] = κ y[t-1] + W_out z[t] + b``. e-prop factorises the gradient
into an eligibility trace, local and forward in time, and a learning signal from the
output error:

- eligibility vectors ``ε_i[t] = α ε_i[t-1] + x_i[t]`` (the presynaptic input filtered by
  the membrane; for ``W_rec`` the previous step's spikes) — single-layer RTRL's ``m[t]``;
- eligibility traces ``e_ji[t] = ψ_j[t] ε_i[t]`` (``ψ`` the surrogate derivative),
  low-pass filtered by the readout's ``κ``: ``ē[t] = κ ē[t-1] + e[t]``;
- learning signal ``L_j[t] = Σ_k B_jk ∂E/∂y_k[t]`` with ``B = W_outᵀ`` (symmetric e-prop)
  or a fixed random matrix (random e-prop); ``∂E/∂W_ji = Σ_t L_j[t] ē_ji[t]``.

What e-prop leaves out is the influence of a spike on later spikes through ``W_rec``.
Without recurrent weights (``recurrent=False``) and with symmetric feedback it is the
exact gradient (BPTT through :meth:`EpropRSNN.forward`, which drops the reset's gradient
too); the readout's gradients are always exact. :meth:`EpropRSNN.eprop_gradients` runs
the network and the traces in one pass over time, so its memory (the traces,
``[B, hidden, inputs + hidden]``) does not grow with T, beyond the readout it returns.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_choice, check_sequence
from ..functional.spike import spike
from ..surrogates import SurrogateLike, get_surrogate
from ._common import neuron_settings
from .registry import MODELS

FEEDBACK = ("symmetric", "random")
LOSSES = ("ce", "mse")


class EpropRSNN(nn.Module):
    """A recurrent LIF layer and a leaky linear readout; see the module docstring.

    Input ``[T, B, ...]`` (flattened per step to ``in_features``); output ``y``
    ``[T, B, num_classes]``.

    Args:
        in_features, hidden, num_classes: sizes.
        tau, tau_out: time constants; ``α = 1 - 1/τ``, ``κ = 1 - 1/τ_out``.
        v_th: threshold. recurrent: with ``W_rec`` (zero diagonal) or without.
        surrogate: the pseudo-derivative ``ψ``.
        feedback: ``"symmetric"`` (``B = W_outᵀ``) or ``"random"`` (fixed at init).
    """

    readout_kind = "membrane"  # outputs: the leaky readout's membrane (see models/output.py)

    #: It loops over time itself (step-by-step training refuses it).
    runs_whole_sequence = True

    def __init__(
        self,
        in_features: int,
        hidden: int,
        num_classes: int,
        tau: float = 10.0,
        tau_out: float = 10.0,
        v_th: float = 1.0,
        recurrent: bool = True,
        surrogate: SurrogateLike = "atan",
        feedback: str = "symmetric",
    ) -> None:
        super().__init__()
        for name, value in (("tau", tau), ("tau_out", tau_out)):
            if not value >= 1.0:
                raise ValueError(f"{name} must be >= 1 (a decay 1 - 1/τ in [0, 1)), got {value}")
        self.in_features = in_features
        self.alpha, self.kappa, self.v_th = 1.0 - 1.0 / tau, 1.0 - 1.0 / tau_out, float(v_th)
        self.surrogate = get_surrogate(surrogate)
        self.feedback = check_choice(feedback, "feedback", FEEDBACK)
        self.w_in = nn.Parameter(torch.randn(hidden, in_features) / in_features**0.5)
        self.w_rec = nn.Parameter(torch.randn(hidden, hidden) / hidden**0.5) if recurrent else None
        self.w_out = nn.Parameter(torch.randn(num_classes, hidden) / hidden**0.5)
        self.b_out = nn.Parameter(torch.zeros(num_classes))
        self.register_buffer("random_feedback", torch.randn(hidden, num_classes) / hidden**0.5)

    def _recurrent_weight(self) -> torch.Tensor | None:
        """``W_rec`` with its diagonal held at zero (no self-connection)."""
        if self.w_rec is None:
            return None
        return self.w_rec * (1.0 - torch.eye(self.w_rec.shape[0], dtype=self.w_rec.dtype,
                                              device=self.w_rec.device))  # fmt: skip

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, "EpropRSNN input", min_dim=3)
        flat = x.flatten(2)
        if flat.shape[2] != self.in_features:
            raise ValueError(
                f"EpropRSNN expects {self.in_features} features per step and sample, got "
                f"{flat.shape[2]} from input shape {tuple(x.shape)}"
            )
        return flat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, ...]`` -> readout ``y`` ``[T, B, num_classes]`` (BPTT-able)."""
        return torch.stack([y for y, _, _ in self.steps(self._inputs(x))])

    def steps(self, x: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per step of ``x`` ``[T, B, in_features]``: readout ``y``, spikes ``z`` and
        ``H - V_th`` (each ``[B, ·]``), computed as the steps are asked for."""
        w_rec = self._recurrent_weight()
        B, hidden = x.shape[1], self.w_in.shape[0]
        v = x.new_zeros(B, hidden)
        z = x.new_zeros(B, hidden)
        y = x.new_zeros(B, self.w_out.shape[0])
        for x_t in x:
            h = self.alpha * v + x_t @ self.w_in.T
            if w_rec is not None:
                h = h + z @ w_rec.T
            z = spike(h - self.v_th, self.surrogate)
            v = h - self.v_th * z.detach()  # the reset's gradient is dropped (as e-prop)
            y = self.kappa * y + z @ self.w_out.T + self.b_out
            yield y, z, h - self.v_th

    @torch.no_grad()
    def eprop_gradients(
        self, x: torch.Tensor, targets: torch.Tensor, loss: str = "ce"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Accumulate e-prop gradients into ``.grad``; returns ``(loss, y [T, B, K])``.

        ``loss="ce"``: ``E = (1/T) Σ_t CE(y[t], targets)`` with class indices ``[B]``;
        ``"mse"``: ``E = ½ mean((y - targets)²)`` with targets ``[T, B, K]``.
        """
        check_choice(loss, "loss", LOSSES)
        x = self._inputs(x)
        T, B = x.shape[:2]
        hidden, classes = self.w_in.shape[0], self.w_out.shape[0]
        feedback = self.w_out.T if self.feedback == "symmetric" else self.random_feedback
        recurrent = self.w_rec is not None
        grads = {name: torch.zeros_like(p) for name, p in self.named_parameters()}
        eps_in = x.new_zeros(B, x.shape[2])
        e_in = x.new_zeros(B, hidden, x.shape[2])
        if recurrent:
            eps_rec = x.new_zeros(B, hidden)
            e_rec = x.new_zeros(B, hidden, hidden)
        z_bar, one_bar, z_prev = x.new_zeros(B, hidden), 0.0, x.new_zeros(B, hidden)
        ys, value = [], 0.0
        for t, (y, z, u) in enumerate(self.steps(x)):
            if loss == "ce":  # ∂E/∂y[t] of the mean per-step CE
                onehot = F.one_hot(targets, classes).to(y.dtype)
                error = (torch.softmax(y, -1) - onehot) / (T * B)
                value += float(F.cross_entropy(y, targets)) / T
            else:
                error = (y - targets[t]) / (T * B * classes)
                value += 0.5 * float((y - targets[t]).square().sum()) / (T * B * classes)
            psi = self.surrogate.derivative(u)  # [B, hidden]
            eps_in = self.alpha * eps_in + x[t]
            e_in = self.kappa * e_in + psi[:, :, None] * eps_in[:, None, :]
            signal = error @ feedback.T  # learning signal L [B, hidden]
            grads["w_in"] += torch.einsum("bh,bhi->hi", signal, e_in)
            if recurrent:
                eps_rec = self.alpha * eps_rec + z_prev
                e_rec = self.kappa * e_rec + psi[:, :, None] * eps_rec[:, None, :]
                grads["w_rec"] += torch.einsum("bh,bhi->hi", signal, e_rec)
            z_bar = self.kappa * z_bar + z
            one_bar = self.kappa * one_bar + 1.0
            grads["w_out"] += error.T @ z_bar
            grads["b_out"] += error.sum(0) * one_bar
            z_prev = z
            ys.append(y)
        if recurrent:
            grads["w_rec"].fill_diagonal_(0.0)
        for name, p in self.named_parameters():
            p.grad = grads[name] if p.grad is None else p.grad + grads[name]
        return torch.tensor(value, dtype=x.dtype, device=x.device), torch.stack(ys)


@MODELS.register("eprop_rsnn")
def eprop_rsnn(
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int = 28,
    in_features: int | None = None,
    hidden: int = 128,
    neuron: str = "lif",
    surrogate: SurrogateLike | None = None,
    neuron_kwargs: dict | None = None,
    **kwargs: object,
) -> EpropRSNN:
    """:class:`EpropRSNN` sized from the data (``in_features`` defaults to
    ``in_channels · input_size²``). Its neurons are the LIF of e-prop, so ``neuron`` must
    be ``"lif"``; ``neuron_kwargs`` may set ``tau`` and ``v_th``; ``surrogate`` (a name,
    ``{"name": "atan", "alpha": 4}`` or an instance) is the pseudo-derivative ``ψ``."""
    if neuron != "lif":
        raise ValueError(f"eprop_rsnn is built from e-prop's LIF neurons; got neuron={neuron!r}")
    extra = dict(neuron_settings(neuron, surrogate, neuron_kwargs).options)
    surrogate = extra.pop("surrogate")
    if set(extra) - {"tau", "v_th"}:
        raise ValueError(
            f"eprop_rsnn takes only tau and v_th in neuron_kwargs, got {sorted(extra)}"
        )
    if in_features is None:
        in_features = in_channels * input_size * input_size
    return EpropRSNN(in_features, hidden, num_classes, surrogate=surrogate, **extra, **kwargs)
