r"""Parallel Spiking Neurons (Fang et al., NeurIPS 2023): PSN, masked PSN, sliding PSN.

Removing the reset makes the membrane linear in the whole input sequence, so a layer
computes all T steps at once with one GEMM over ``[T, B·N]``:

- **PSN**: ``H = W X``, ``S = Θ(H - B)``; ``W`` ``[T, T]`` and ``B`` ``[T]`` learnable.
  Uses future inputs (not causal), so it needs the whole sequence and a fixed T.
- **Masked PSN** (order k): ``H = (W ⊙ M_k(λ)) X`` with the banded causal mask
  ``M_k[t, i] = 1`` iff ``i ≤ t ≤ i + k - 1`` and progressive masking
  ``M_k(λ) = λ M_k + (1 - λ) 𝟙``, λ stepped 0 → 1 during training
  (:meth:`MaskedPSN.set_mask_progress`, :class:`MaskProgressScheduler`). Causal at λ = 1.
- **Sliding PSN** (order k): ``H[t] = Σ_{i=0}^{k-1} W_i X[t - k + 1 + i]`` (zeros before
  t = 0), ``S = Θ(H - B)``, ``W`` ``[k]`` and scalar ``B`` shared over time — any T,
  causal, streamable (the state is the last k-1 inputs).

All neurons here take ``[T, B, ...]`` and fire at ``H - B >= 0`` with the chosen
surrogate gradient. :class:`ParallelNeuron` is the shared base (also used by PSU and
ParaLIF): these neurons carry no state between calls unless they say otherwise.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import nn

from .._validation import check_choice, check_finite, check_sequence
from ..functional.parallel import (
    causal_band_mask,
    causal_conv_shift,
    causal_conv_time,
    kernel_to_causal_filter,
    lif_kernel_matrix,
    temporal_matmul,
    toeplitz_from_kernel,
)
from ..functional.spike import spike
from ..surrogates import SurrogateLike, get_surrogate
from .base import SpikingNeuron, check_neuron_input
from .registry import NEURONS


class NoState(NamedTuple):
    """State of a neuron that carries nothing between calls (whole-sequence neurons)."""


class ParallelNeuron(SpikingNeuron):
    """Base of neurons computed in parallel over time from the whole sequence.

    ``run(x)`` works as usual; carrying a state into a second call is refused (these
    neurons see each call as an independent sequence), and ``step`` raises because a
    step needs the whole sequence. Subclasses implement :meth:`_parallel`.
    """

    #: Whether ``step``/``run(x, state)`` streaming is supported (overridden by subclasses).
    streaming = False

    def _parallel(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def initial_state(self, x_t: torch.Tensor) -> NoState:
        return NoState()

    def run(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        if state is not None and not isinstance(state, NoState):
            raise ValueError(
                f"{type(self).__name__} processes whole sequences and carries no state "
                f"between calls; pass state=None (got {type(state).__name__})"
            )
        return super().run(x, None)

    def _run(self, x: torch.Tensor, state: NoState) -> tuple[torch.Tensor, NoState]:
        return self._parallel(x), NoState()

    def step(self, x_t: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError(
            f"{type(self).__name__} computes all time steps at once and needs the whole "
            f"sequence: call it on x [T, B, ...] instead of step() on [B, ...]"
        )

    def _check_parameter_shapes(self, step_shape: torch.Size, sequence: bool) -> None:
        # Parameters here are indexed by time ([T, T], [T], [k]), not by neuron, so the
        # base class's broadcast check against [B, ...] does not apply.
        return None

    def _check_steps(self, x: torch.Tensor, T: int) -> None:
        if x.shape[0] != T:
            raise ValueError(
                f"{type(self).__name__} was built for T = {T} time steps but the input has "
                f"T = {x.shape[0]} (shape {tuple(x.shape)}); build it with T={x.shape[0]} "
                f"or use a neuron that accepts any T (e.g. SlidingPSN)"
            )


def _init_weight(T: int, init: str, tau: float) -> torch.Tensor:
    if init == "lif":
        return lif_kernel_matrix(T, tau)
    weight = torch.empty(T, T)
    # SpikingJelly's default: nn.Linear-style Kaiming-uniform over the T inputs.
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    return weight


def _check_steps_arg(T: Any, name: str = "T") -> int:
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ValueError(f"{name} must be a positive int, got {T!r}")
    return T


@NEURONS.register("psn")
class PSN(ParallelNeuron):
    r"""Parallel spiking neuron: ``H = W X``, ``S = Θ(H - B)`` over ``[T, B, ...]``.

    Args:
        T: number of time steps (fixed; inputs with another T raise ``ValueError``).
        init: ``"lif"`` — ``W[t, i] = β^{t-i}/τ`` (a no-reset LIF, ``B = v_th``);
            ``"kaiming"`` — SpikingJelly's Kaiming-uniform ``W``.
        tau: membrane time constant of the ``"lif"`` initialisation.
        v_th: initial threshold ``B`` (every step).
        surrogate: surrogate gradient name or object.

    Shapes: input ``[T, B, ...]`` -> spikes ``[T, B, ...]``; ``weight`` ``[T, T]``,
    ``threshold`` ``[T]``.
    """

    def __init__(
        self,
        T: int,
        init: str = "lif",
        tau: float = 2.0,
        v_th: float = 1.0,
        surrogate: SurrogateLike = "atan",
    ) -> None:
        super().__init__()
        self.T = _check_steps_arg(T)
        check_choice(init, "init", ("lif", "kaiming"))
        check_finite(tau, "tau")  # the "lif" init also needs tau >= 1 (checked there)
        check_finite(v_th, "v_th")
        self.init = init
        self.weight = nn.Parameter(_init_weight(self.T, init, tau))
        self.threshold = nn.Parameter(torch.full((self.T,), float(v_th)))
        self.surrogate = get_surrogate(surrogate)

    def effective_weight(self) -> torch.Tensor:
        """The ``[T, T]`` matrix applied to the input."""
        return self.weight

    def membrane(self, x: torch.Tensor) -> torch.Tensor:
        """``H - B`` ``[T, B, ...]`` (fires where ``>= 0``); one ``addmm``."""
        check_sequence(x, f"{type(self).__name__} input")
        self._check_steps(x, self.T)
        return temporal_matmul(self.effective_weight(), x, -self.threshold)

    def _parallel(self, x: torch.Tensor) -> torch.Tensor:
        return spike(self.membrane(x), self.surrogate)

    def extra_repr(self) -> str:
        return f"T={self.T}, init={self.init!r}, surrogate={self.surrogate}"


@NEURONS.register("masked_psn")
class MaskedPSN(PSN):
    r"""Masked PSN of order ``k``: ``H = (W ⊙ M_k(λ)) X``, ``S = Θ(H - B)``.

    ``λ`` (:attr:`mask_progress`, a buffer saved with the model) moves from 0 (no mask)
    to 1 (banded causal mask); set it with :meth:`set_mask_progress` or a
    :class:`MaskProgressScheduler`. At ``λ = 1`` the output at step t depends only on
    inputs ``t-k+1 .. t``.

    Args:
        T: number of time steps (fixed).
        k: order (band width) of the mask, ``1 <= k``.
        mask_progress: initial λ (default 0, the paper's start of training).
        init, tau, v_th, surrogate: as :class:`PSN`.
    """

    def __init__(
        self,
        T: int,
        k: int = 2,
        mask_progress: float = 0.0,
        init: str = "lif",
        tau: float = 2.0,
        v_th: float = 1.0,
        surrogate: SurrogateLike = "atan",
    ) -> None:
        super().__init__(T, init=init, tau=tau, v_th=v_th, surrogate=surrogate)
        self.k = _check_steps_arg(k, "k")
        self.register_buffer("mask", causal_band_mask(self.T, self.k))
        self.register_buffer("_mask_progress", torch.zeros(()))
        self.set_mask_progress(mask_progress)

    @property
    def mask_progress(self) -> float:
        """λ ∈ [0, 1]: 0 = unmasked, 1 = fully (causally) masked."""
        return float(self._mask_progress)

    def set_mask_progress(self, value: float) -> None:
        """Set λ ∈ [0, 1] (the trainer steps it 0 → 1 over training)."""
        if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"mask progress lambda must be a number in [0, 1], got {value!r}")
        self._mask_progress.fill_(float(value))

    def effective_weight(self) -> torch.Tensor:
        lam = self._mask_progress
        if float(lam) >= 1.0:
            return self.weight * self.mask
        # λ M + (1 - λ) 𝟙 = 1 - λ (1 - M): masked entries fade out as λ → 1.
        return self.weight * (1.0 - lam * (1.0 - self.mask))

    def extra_repr(self) -> str:
        return f"T={self.T}, k={self.k}, lambda={self.mask_progress:g}, surrogate={self.surrogate}"


class MaskProgressScheduler:
    """Steps λ of every :class:`MaskedPSN` in a model linearly from 0 to 1.

    Call :meth:`step` once per epoch (or per iteration): after ``total_steps`` calls
    λ = 1 and stays there. ``λ = min(1, (start + n) / total_steps)`` after n calls.

    Args:
        model: module containing masked PSNs (searched recursively).
        total_steps: number of calls to reach λ = 1 (>= 1).
        start: initial count (λ at construction = start / total_steps).
    """

    def __init__(self, model: nn.Module, total_steps: int, start: int = 0) -> None:
        self.total_steps = _check_steps_arg(total_steps, "total_steps")
        if not isinstance(start, int) or start < 0:
            raise ValueError(f"start must be an int >= 0, got {start!r}")
        self.neurons = [m for m in model.modules() if isinstance(m, MaskedPSN)]
        self.count = start
        self._apply()

    @property
    def value(self) -> float:
        return min(1.0, self.count / self.total_steps)

    def _apply(self) -> None:
        for neuron in self.neurons:
            neuron.set_mask_progress(self.value)

    def step(self) -> float:
        """Advance one step and return the new λ."""
        self.count += 1
        self._apply()
        return self.value


SLIDING_BACKENDS = ("auto", "gemm", "conv", "shift")
#: ``"auto"`` uses the shifted multiply-adds once ``T >= SHIFT_MIN_RATIO · k``.
SHIFT_MIN_RATIO = 64


def sliding_backend(T: int, k: int) -> str:
    """The faster sliding-PSN implementation for ``T`` steps and order ``k``.

    Rule measured once on CPU (fwd+bwd of the charge, float32, 2 shared cores;
    ``/tmp`` scripts summarised in ``benchmarks/results/parallel_neurons_cpu.md``):

    - ``conv1d`` (``"conv"``) lost everywhere on CPU — 10-40× slower than the Toeplitz
      GEMM at B·N = 131072, T ≤ 64 (the ``[T, N] -> [N, 1, T]`` transposes and a
      1-channel convolution do not vectorise well); it stays available explicitly.
    - the Toeplitz GEMM (``"gemm"``, ``T`` multiply-adds per output) wins while T is
      comparable to k;
    - ``k`` shifted multiply-adds (``"shift"``, ``k`` per output) win for long sequences
      and short kernels: ~12× at T = 1024, k = 2; still ahead at T = 1024, k = 16;
      behind at T = 64, k = 16.

    So: ``"shift"`` when ``T >= 64 k``, else ``"gemm"``.
    """
    return "shift" if SHIFT_MIN_RATIO * k <= T else "gemm"


@NEURONS.register("sliding_psn")
class SlidingPSN(ParallelNeuron):
    r"""Sliding PSN of order ``k``: ``H[t] = Σ_{i=0}^{k-1} W_i X[t-k+1+i]``, ``S = Θ(H - B)``.

    Weights ``W`` ``[k]`` (oldest input first) and threshold ``B`` (scalar) are shared
    over time, so any T works, and the neuron is causal: ``step`` and
    ``run(x, state)`` stream, the state being the last ``k - 1`` inputs.

    Args:
        k: order (number of taps).
        init: ``"exp"`` — ``W = (…, 1/4, 1/2, 1)`` (SpikingJelly's default);
            ``"lif"`` — ``W_i = β^{k-1-i}/τ`` (a LIF without reset, truncated to k taps);
            ``"kaiming"`` — Kaiming-uniform.
        tau: time constant of the ``"lif"`` initialisation.
        v_th: initial threshold ``B``.
        backend: ``"gemm"`` (Toeplitz matmul), ``"conv"`` (causal ``conv1d``),
            ``"shift"`` (k shifted multiply-adds) or ``"auto"`` (:func:`sliding_backend`).
        surrogate: surrogate gradient.
    """

    streaming = True

    def __init__(
        self,
        k: int = 2,
        init: str = "exp",
        tau: float = 2.0,
        v_th: float = 1.0,
        backend: str = "auto",
        surrogate: SurrogateLike = "atan",
    ) -> None:
        super().__init__()
        self.k = _check_steps_arg(k, "k")
        check_choice(init, "init", ("exp", "lif", "kaiming"))
        check_choice(backend, "backend", SLIDING_BACKENDS)
        check_finite(tau, "tau")  # the "lif" init also needs tau >= 1 (checked there)
        check_finite(v_th, "v_th")
        self.init = init
        self.backend = backend
        if init == "exp":
            weight = 0.5 ** torch.arange(self.k - 1, -1, -1, dtype=torch.get_default_dtype())
        elif init == "lif":
            # Last row of the LIF kernel: [β^{k-1}, ..., β, 1]/τ, oldest input first.
            weight = lif_kernel_matrix(self.k, tau)[-1].clone()
        else:
            weight = torch.empty(1, self.k)
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
            weight = weight[0]
        self.weight = nn.Parameter(weight)
        self.threshold = nn.Parameter(torch.tensor(float(v_th)))
        self.surrogate = get_surrogate(surrogate)

    def toeplitz(self, T: int) -> torch.Tensor:
        """The equivalent ``[T, T]`` PSN weight (banded lower-triangular Toeplitz)."""
        return toeplitz_from_kernel(self.weight, T)

    def charge(self, x: torch.Tensor, backend: str | None = None) -> torch.Tensor:
        """``H`` ``[T, B, ...]`` (zeros before the sequence start)."""
        check_sequence(x, f"{type(self).__name__} input")
        backend = backend or self.backend
        check_choice(backend, "backend", SLIDING_BACKENDS)
        if backend == "auto":
            backend = sliding_backend(x.shape[0], self.k)
        if backend == "conv":
            return causal_conv_time(x, kernel_to_causal_filter(self.weight))
        if backend == "shift":
            return causal_conv_shift(x, kernel_to_causal_filter(self.weight))
        return temporal_matmul(self.toeplitz(x.shape[0]), x)

    def _parallel(self, x: torch.Tensor) -> torch.Tensor:
        return spike(self.charge(x) - self.threshold, self.surrogate)

    # Streaming: the state is a tuple of the last k-1 inputs, oldest first, each [B, ...].

    def initial_state(self, x_t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(torch.zeros_like(x_t) for _ in range(self.k - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[T, B, ...]`` -> spikes ``[T, B, ...]`` from rest (no history copy)."""
        check_sequence(x, f"{type(self).__name__} input")
        check_neuron_input(self, x, "[T, B, ...]")
        return self._parallel(x)

    def run(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """``(spikes [T, B, ...], last k-1 inputs)``; ``state`` continues a stream."""
        check_sequence(x, f"{type(self).__name__} input")
        check_neuron_input(self, x, "[T, B, ...]")
        keep = self.k - 1
        if state is None:
            out = self._parallel(x)
            history = x[-keep:] if keep else x[:0]
        else:
            self._check_state(state, x.shape[1:], sequence=True)
            if len(state) != keep:
                raise ValueError(
                    f"SlidingPSN(k={self.k}) state must hold k-1 = {keep} past inputs, "
                    f"got {len(state)}"
                )
            history = torch.cat([torch.stack(state), x]) if keep else x
            out = spike(self.charge(history)[keep:] - self.threshold, self.surrogate)
        if history.shape[0] < keep:  # fewer steps than taps so far: pad with rest
            pad = torch.zeros_like(x[:1]).expand(keep - history.shape[0], *x.shape[1:])
            history = torch.cat([pad, history])
        return out, tuple(history[history.shape[0] - keep :].unbind(0))

    def step(self, x_t: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """One step: ``x_t`` ``[B, ...]`` -> ``(spikes [B, ...], state)``."""
        if not isinstance(x_t, torch.Tensor) or x_t.dim() < 1:
            raise ValueError(f"step input must be a tensor [B, ...], got {x_t!r:.60}")
        out, state = self.run(x_t.unsqueeze(0), state)
        return out[0], state

    def extra_repr(self) -> str:
        return (
            f"k={self.k}, init={self.init!r}, backend={self.backend!r}, surrogate={self.surrogate}"
        )
