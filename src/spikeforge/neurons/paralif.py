r"""ParaLIF (Arnaud Yarga & Wood, 2024): a LIF split into a parallel leaky integrator
and a pointwise spike function; plus the non-spiking output layer :class:`ParaLI`.

Integration (no reset), computed for all steps at once as a causal convolution::

    I[n] = α I[n-1] + X[n]                (optional synaptic filter, ``tau_syn``)
    m[n] = β m[n-1] + (1 - β) I[n]        (kernel k[n] = β^n (1 - β))

with ``β = exp(-1/tau_mem)``, ``α = exp(-1/tau_syn)`` (time constants in steps, the
official code's ``exp(-dt/τ)``). ``method="fft"`` uses the FFT, ``"direct"`` one
Toeplitz GEMM, ``"auto"`` picks by T
(:data:`~spikeforge.functional.parallel.FFT_MIN_STEPS`).

Spikes: ``spike_fn`` ∈ SB, TRB, GS, D, SD, TD, TRD, T, ST, TT, TRT
(:mod:`spikeforge.functional.paralif`).

The threshold mode ``"T"`` of the feed-forward neuron with the Toeplitz integration
(``method="direct"``, or ``"auto"`` below the FFT switch) is the PSN form
``Θ(W X - θ)`` with a fixed ``W``: it runs as one ``"psn"`` kernel
(:func:`~spikeforge.functional.parallel.threshold_spikes`, ``backend``), fused on CPU.
The other modes put a nonlinearity (ST/TT/TRT), a difference over time (D*) or random
sampling (SB/TRB/GS, whose draws must follow torch's generator) between the product and
the spike, and the recurrent variant feeds spikes back into a second integration: they
run in torch.

Recurrent ParaLIF (paper Eq. 21-24, as in the official code): with a learnable
``W_rec`` ``[N, N]``,

    m_h = LI(X);   h[n] = Φ(m_h)[n-1]  (the hidden spikes, one step late)
    m = m_h + LI(X + W_rec h);          S = Φ(m)

— still parallel: the hidden state depends only on the feed-forward membrane.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validation import check_choice, check_finite, check_positive, check_sequence
from ..functional.backends import BACKENDS
from ..functional.paralif import (
    DELTA_MODES,
    THRESHOLD_MODES,
    check_spike_mode,
    max_membrane_cross_entropy,
    normaliser,
    paralif_spikes,
)
from ..functional.parallel import (
    FFT_MIN_STEPS,
    LEAKY_METHODS,
    PSNParameters,
    leaky_impulse_response,
    leaky_integrate,
    threshold_spikes,
    toeplitz_from_kernel,
)
from ..surrogates import FastSigmoid, SurrogateLike, get_surrogate
from .psn import ParallelNeuron
from .registry import NEURONS


def _decay_from_tau(tau: float, name: str) -> float:
    check_positive(tau, name)  # finite and > 0
    return math.exp(-1.0 / tau)


class _LeakyIntegrator(ParallelNeuron):
    """Shared integration for :class:`ParaLIF` and :class:`ParaLI`."""

    def __init__(self, tau_mem: float, tau_syn: float | None, method: str) -> None:
        super().__init__()
        check_choice(method, "method", LEAKY_METHODS)
        self.tau_mem = float(tau_mem)
        self.tau_syn = None if tau_syn is None else float(tau_syn)
        self.beta = _decay_from_tau(tau_mem, "tau_mem")
        self.alpha = None if tau_syn is None else _decay_from_tau(tau_syn, "tau_syn")
        self.method = method

    def integrate(self, x: torch.Tensor, method: str | None = None) -> torch.Tensor:
        """Membrane ``m`` ``[T, B, ...]`` of the leaky integrator driven by ``x``."""
        check_sequence(x, f"{type(self).__name__} input")
        impulse = leaky_impulse_response(
            x.shape[0], self.beta, self.alpha, dtype=x.dtype, device=x.device
        )
        return leaky_integrate(x, impulse, method or self.method)


@NEURONS.register("paralif")
class ParaLIF(_LeakyIntegrator):
    r"""Parallelisable LIF over ``[T, B, ...]`` (any T, no reset).

    Args:
        spike_fn: spike function (see module doc); default ``"SB"``.
        tau_mem: membrane time constant in steps (``β = exp(-1/tau_mem)``); the
            official default (``dt = τ = 1 ms``) is 1.
        tau_syn: synaptic time constant in steps, or ``None`` for no synaptic filter
            (METHODS §3.3's plain LI; the official code uses 1).
        v_th: threshold of the T* modes, compared with ``norm(m)`` — initialised to
            ``norm(v_th)`` as in the official code.
        delta_th: ``Δ_th`` of the D* modes (official 0.01).
        learn_threshold: make the T*/D* threshold learnable (official: yes).
        recurrent_features: N to build the recurrent variant (``W_rec`` ``[N, N]``, input
            ``[T, B, ..., N]``); ``None`` = feed-forward.
        method: ``"auto" | "fft" | "direct"`` leaky integration.
        surrogate: backward of the deterministic modes; default fast sigmoid with
            α = 100 (the official SuperSpike scale).
        gs_tau: Gumbel-Softmax temperature.
        backend: kernel of the ``"T"`` mode in Toeplitz form (see the module doc):
            ``"auto"`` (fused on CPU where it applies), ``"torch"``, ``"cpu"``.
    """

    def __init__(
        self,
        spike_fn: str = "SB",
        tau_mem: float = 1.0,
        tau_syn: float | None = None,
        v_th: float = 1.0,
        delta_th: float = 0.01,
        learn_threshold: bool = True,
        recurrent_features: int | None = None,
        method: str = "auto",
        surrogate: SurrogateLike | None = None,
        gs_tau: float = 1.0,
        backend: str = "auto",
    ) -> None:
        super().__init__(tau_mem, tau_syn, method)
        self.spike_fn = check_spike_mode(spike_fn)
        self.backend = check_choice(backend, "backend", BACKENDS)
        check_positive(gs_tau, "gs_tau")
        check_finite(v_th, "v_th")
        check_finite(delta_th, "delta_th")
        self.gs_tau = float(gs_tau)
        self.surrogate = FastSigmoid(alpha=100.0) if surrogate is None else get_surrogate(surrogate)
        threshold = 0.0
        if spike_fn in THRESHOLD_MODES:
            threshold = float(normaliser(spike_fn)(torch.tensor(float(v_th))))
        elif spike_fn in DELTA_MODES:
            threshold = float(delta_th)
        value = torch.tensor(threshold)
        self.threshold: torch.Tensor
        if learn_threshold and spike_fn not in ("SB", "TRB", "GS"):
            self.threshold = nn.Parameter(value)
        else:
            self.register_buffer("threshold", value)
        self.recurrent: nn.Linear | None = None
        if recurrent_features is not None:
            if not isinstance(recurrent_features, int) or recurrent_features < 1:
                raise ValueError(
                    f"recurrent_features must be a positive int, got {recurrent_features!r}"
                )
            self.recurrent = nn.Linear(recurrent_features, recurrent_features)
            nn.init.kaiming_uniform_(self.recurrent.weight, a=0, nonlinearity="linear")
            nn.init.zeros_(self.recurrent.bias)

    def fire(self, m: torch.Tensor) -> torch.Tensor:
        """Spikes ``[T, B, ...]`` from membranes with this layer's spike function."""
        return paralif_spikes(
            m,
            self.spike_fn,
            self.surrogate,
            threshold=self.threshold,
            delta_threshold=self.threshold,
            gs_tau=self.gs_tau,
        )

    def membrane(self, x: torch.Tensor) -> torch.Tensor:
        """The membrane that is fed to the spike function, ``[T, B, ...]``."""
        m = self.integrate(x)
        if self.recurrent is None:
            return m
        n = self.recurrent.in_features
        if x.shape[-1] != n:
            raise ValueError(
                f"recurrent ParaLIF with {n} features expects inputs [T, B, ..., {n}], "
                f"got shape {tuple(x.shape)}"
            )
        # Hidden spikes from the feed-forward membrane, delayed one step (Eq. 22).
        hidden = self.fire(torch.cat([torch.zeros_like(m[:1]), m[:-1]]))
        return m + self.integrate(x + self.recurrent(hidden))

    def _threshold_form(self, T: int) -> bool:
        """Whether the spikes are ``Θ(W X - θ)`` with the Toeplitz ``W`` (the PSN form)."""
        method = self.method
        if method == "auto":
            method = "fft" if T >= FFT_MIN_STEPS else "direct"
        return self.spike_fn == "T" and self.recurrent is None and method == "direct"

    def _parallel(self, x: torch.Tensor) -> torch.Tensor:
        if not self._threshold_form(x.shape[0]):
            return self.fire(self.membrane(x))
        check_sequence(x, f"{type(self).__name__} input")
        T = x.shape[0]
        impulse = leaky_impulse_response(T, self.beta, self.alpha, dtype=x.dtype, device=x.device)
        weight = toeplitz_from_kernel(torch.flip(impulse, dims=(0,)), T)  # as leaky_integrate
        bias = (-self.threshold).expand(T)
        return threshold_spikes(x, PSNParameters(weight, bias, self.surrogate), self.backend)

    def extra_repr(self) -> str:
        parts = [f"spike_fn={self.spike_fn!r}", f"tau_mem={self.tau_mem}"]
        if self.tau_syn is not None:
            parts.append(f"tau_syn={self.tau_syn}")
        if self.recurrent is not None:
            parts.append(f"recurrent_features={self.recurrent.in_features}")
        parts.append(f"method={self.method!r}")
        if self.backend != "auto":
            parts.append(f"backend={self.backend!r}")
        return ", ".join(parts)


@NEURONS.register("parali")
class ParaLI(_LeakyIntegrator):
    """Non-spiking parallel leaky integrator (ParaLIF's output layer): returns ``m``.

    Args:
        tau_mem, tau_syn, method: as :class:`ParaLIF`.

    Input ``[T, B, ...]`` -> membrane ``[T, B, ...]``; train with
    :class:`MaxMembraneLoss` (CE on ``max_t m``).
    """

    def __init__(
        self, tau_mem: float = 1.0, tau_syn: float | None = None, method: str = "auto"
    ) -> None:
        super().__init__(tau_mem, tau_syn, method)

    def _parallel(self, x: torch.Tensor) -> torch.Tensor:
        return self.integrate(x)

    def extra_repr(self) -> str:
        return f"tau_mem={self.tau_mem}, tau_syn={self.tau_syn}, method={self.method!r}"


class MaxMembraneLoss(nn.Module):
    """Cross-entropy on ``max_t m[t]`` (``reduce="max"``) or ``mean_t`` of ``[T, B, C]``."""

    def __init__(self, reduce: str = "max") -> None:
        super().__init__()
        self.reduce = check_choice(reduce, "reduce", ("max", "mean"))

    def forward(self, m: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return max_membrane_cross_entropy(m, target, self.reduce)
