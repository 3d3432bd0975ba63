r"""Parallel Spiking Neurons (Fang et al., NeurIPS 2023): PSN, masked PSN, sliding PSN.

Removing the reset makes the membrane linear in the whole input sequence, so a layer
computes all T steps at once with one GEMM over ``[T, B·N]``:

- **PSN**: ``H = W X``, ``S = Θ(H - B)``; ``W`` ``[T, T]`` and ``B`` ``[T]`` learnable.
  Uses future inputs (not causal), so it needs the whole sequence and a fixed T.
- **Masked PSN** (order k): ``H = (W ⊙ M_k(λ)) X`` with the banded causal mask
  ``M_k[t, i] = 1`` iff ``i ≤ t ≤ i + k - 1`` and progressive masking
  ``M_k(λ) = λ M_k + (1 - λ) 𝟙``, λ ramped 0 → 1 by the trainer over a configurable
  part of training (``mask_schedule``, driven through :mod:`spikeforge._schedule`) or
  fixed (``mask_progress``). Causal at λ = 1.
- **Sliding PSN** (order k): ``H[t] = Σ_{i=0}^{k-1} W_i X[t - k + 1 + i]`` (zeros before
  t = 0), ``S = Θ(H - B)``, ``W`` ``[k]`` and scalar ``B`` shared over time — any T,
  causal, streamable (the state is the last k-1 inputs).

All neurons here take ``[T, B, ...]`` and fire at ``H - B >= 0`` with the chosen
surrogate gradient. Whenever the membrane is one product ``W X`` (PSN, masked PSN, sliding
PSN in its GEMM form) the product, threshold and surrogate run as one ``"psn"`` kernel
(:func:`~spikeforge.functional.parallel.threshold_spikes`): ``backend="auto"`` takes the
fused CPU kernel for CPU float32/float64 inputs (no ``[T, N]`` intermediate stored, see
:mod:`spikeforge.kernels.cpu.psn`), ``"torch"`` the plain ``addmm`` + spike.
:class:`ParallelNeuron` is the shared base (also used by PSU and
ParaLIF): these neurons carry no state between calls unless they say otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from .._schedule import check_ramp, linear_ramp
from .._validation import check_choice, check_finite, check_sequence
from ..functional.backends import BACKENDS
from ..functional.parallel import (
    PSNParameters,
    causal_band_mask,
    causal_conv_shift,
    causal_conv_time,
    kernel_to_causal_filter,
    lif_kernel_matrix,
    temporal_matmul,
    threshold_spikes,
    toeplitz_from_kernel,
)
from ..functional.spike import spike
from ..surrogates import SurrogateLike, get_surrogate
from .base import SpikingNeuron, check_neuron_input, check_neuron_sequence
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
        backend: kernel of ``Θ(W X - B)``: ``"auto"`` (the fused CPU kernel where it
            applies, else torch), ``"torch"``, ``"cpu"`` (raises where it cannot run).

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
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.T = _check_steps_arg(T)
        check_choice(init, "init", ("lif", "kaiming"))
        check_choice(backend, "backend", BACKENDS)
        self.backend = backend
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

    def grad_band(self) -> tuple[int, int] | None:
        """Lags ``t - i`` where the effective weight's gradient reaches a parameter
        (``None``: all of them)."""
        return None

    def _parallel(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, f"{type(self).__name__} input")
        self._check_steps(x, self.T)
        p = PSNParameters(
            self.effective_weight(), -self.threshold, self.surrogate, self.grad_band()
        )
        return threshold_spikes(x, p, self.backend)

    def extra_repr(self) -> str:
        backend = "" if self.backend == "auto" else f", backend={self.backend!r}"
        return f"T={self.T}, init={self.init!r}, surrogate={self.surrogate}{backend}"


#: Default ``mask_schedule`` of :class:`MaskedPSN`: λ ramps 0 → 1 over the first eighth
#: of training, then stays 1 (see the class docstring for where this comes from).
DEFAULT_MASK_SCHEDULE = (0.0, 0.125)


@NEURONS.register("masked_psn")
class MaskedPSN(PSN):
    r"""Masked PSN of order ``k``: ``H = (W ⊙ M_k(λ)) X``, ``S = Θ(H - B)``.

    ``M_k(λ) = λ M_k + (1 - λ) 𝟙`` with the banded causal mask ``M_k``. ``λ``
    (:attr:`mask_progress`, a buffer saved with the model) goes from 0 (no mask: a plain,
    non-causal PSN) to 1 (the band only): at ``λ = 1`` the output at step t depends only
    on inputs ``t-k+1 .. t``.

    **Progressive masking** (the default): ``λ`` follows ``mask_schedule = [start, end]``
    (fractions of training): 0 until ``start``, linear to 1 at ``end``, then 1 (causal)
    to the end of training. The trainer drives it: it calls :meth:`on_training_progress`
    with the fraction of training done before every optimiser step and at each epoch's
    end (the :mod:`spikeforge._schedule` protocol), and logs the λ reached per epoch
    (``"schedules": {"<layer>.mask_progress": λ}`` in ``metrics.jsonl``). Outside the
    trainer nothing moves λ: call :meth:`on_training_progress` or
    :meth:`set_mask_progress` yourself.

    The default ``[0, 0.125]`` (λ = 1 from the first eighth of training on) is the
    authors' schedule: METHODS §3.1 says only "λ scheduled 0 → 1" (so do the PSN seed
    notes, ``shared/seeds/001``: λ grows from 0 to 1), and the authors' masked-PSN runs
    (``Parallel-Spiking-Neuron``, ``sequential_cifar/train_secf10.py``, neuron
    ``if5pmd8``) set ``λ = min(1, 8 · epoch / (epochs - 1))`` at each epoch start — a
    linear ramp over the first eighth of training, then the fixed causal mask for the
    remaining seven eighths. Here the ramp is per step, not per epoch.

    **Fixed mask**: ``mask_progress=λ`` fixes λ (``1.0``: causal from the start); the
    trainer then leaves it alone. ``mask_progress`` and ``mask_schedule`` are exclusive.

    Args:
        T: number of time steps (fixed).
        k: order (band width) of the mask, ``1 <= k``.
        mask_progress: a fixed λ ∈ [0, 1] (no schedule).
        mask_schedule: ``[start, end]``, ``0 <= start <= end <= 1``: λ's ramp, as
            fractions of training (default ``[0, 0.125]`` unless ``mask_progress`` is
            given).
        init, tau, v_th, surrogate, backend: as :class:`PSN`.
    """

    def __init__(
        self,
        T: int,
        k: int = 2,
        mask_progress: float | None = None,
        mask_schedule: Sequence[float] | None = None,
        init: str = "lif",
        tau: float = 2.0,
        v_th: float = 1.0,
        surrogate: SurrogateLike = "atan",
        backend: str = "auto",
    ) -> None:
        super().__init__(T, init=init, tau=tau, v_th=v_th, surrogate=surrogate, backend=backend)
        self.k = _check_steps_arg(k, "k")
        if mask_progress is not None and mask_schedule is not None:
            raise ValueError(
                f"MaskedPSN takes a fixed mask_progress ({mask_progress!r}) or a "
                f"mask_schedule ({mask_schedule!r}), not both: give one"
            )
        self.mask_schedule: tuple[float, float] | None = (
            None
            if mask_progress is not None
            else check_ramp(
                DEFAULT_MASK_SCHEDULE if mask_schedule is None else mask_schedule,
                "mask_schedule",
            )
        )
        self.register_buffer("mask", causal_band_mask(self.T, self.k))
        self.register_buffer("_mask_progress", torch.zeros(()))
        if mask_progress is not None:
            self.set_mask_progress(mask_progress)
        else:
            self.on_training_progress(0.0)

    @property
    def mask_progress(self) -> float:
        """λ ∈ [0, 1]: 0 = unmasked, 1 = fully (causally) masked."""
        return float(self._mask_progress)

    def set_mask_progress(self, value: float) -> None:
        """Set λ ∈ [0, 1] by hand (with a ``mask_schedule``, the trainer's next
        :meth:`on_training_progress` sets it again)."""
        if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"mask progress lambda must be a number in [0, 1], got {value!r}")
        self._mask_progress.fill_(float(value))

    def on_training_progress(self, progress: float) -> None:
        """λ for the fraction ``progress`` of training done (no-op with a fixed λ)."""
        if self.mask_schedule is not None:
            self.set_mask_progress(linear_ramp(float(progress), *self.mask_schedule))

    def schedule_finished(self) -> bool:
        """Whether λ has reached 1 (always, for a fixed λ): only then is the network the
        causal one training is heading for."""
        return self.mask_schedule is None or self.mask_progress >= 1.0

    def schedule_values(self) -> dict[str, float]:
        """``{"mask_progress": λ}`` when λ is scheduled (nothing for a fixed λ)."""
        return {} if self.mask_schedule is None else {"mask_progress": self.mask_progress}

    def grad_band(self) -> tuple[int, int] | None:
        """At λ = 1 only the band ``0 <= t - i < k`` of the effective weight reaches
        ``weight`` (the mask zeroes the rest), so a fused kernel may skip the rest."""
        return (0, self.k - 1) if float(self._mask_progress) >= 1.0 else None

    def effective_weight(self) -> torch.Tensor:
        lam = self._mask_progress
        if float(lam) >= 1.0:
            return self.weight * self.mask
        # λ M + (1 - λ) 𝟙 = 1 - λ (1 - M): masked entries fade out as λ → 1.
        return self.weight * (1.0 - lam * (1.0 - self.mask))

    def extra_repr(self) -> str:
        schedule = "fixed" if self.mask_schedule is None else list(self.mask_schedule)
        return (
            f"T={self.T}, k={self.k}, lambda={self.mask_progress:g}, "
            f"mask_schedule={schedule}, surrogate={self.surrogate}"
        )


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
        kernel: kernel of the GEMM form when a whole sequence is run from rest
            (``forward``, ``run(x)``): ``"auto"`` (the fused CPU ``"psn"`` kernel where it
            applies), ``"torch"``, ``"cpu"``; the other forms and streaming with a state
            always run in torch.
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
        kernel: str = "auto",
    ) -> None:
        super().__init__()
        self.k = _check_steps_arg(k, "k")
        check_choice(init, "init", ("exp", "lif", "kaiming"))
        check_choice(backend, "backend", SLIDING_BACKENDS)
        check_choice(kernel, "kernel", BACKENDS)
        self.kernel = kernel
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
        T = x.shape[0]
        form = sliding_backend(T, self.k) if self.backend == "auto" else self.backend
        if form != "gemm":
            return spike(self.charge(x) - self.threshold, self.surrogate)
        # H - B = W X - B with the Toeplitz W: one "psn" kernel call; only the lags
        # 0..k-1 of W's gradient reach the k taps.
        bias = (-self.threshold).expand(T)
        p = PSNParameters(self.toeplitz(T), bias, self.surrogate, (0, self.k - 1))
        return threshold_spikes(x, p, self.kernel)

    # Streaming: the state is a tuple of the last k-1 inputs, oldest first, each [B, ...].

    def initial_state(self, x_t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(torch.zeros_like(x_t) for _ in range(self.k - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[T, B, ...]`` -> spikes ``[T, B, ...]`` from rest (no history copy)."""
        check_neuron_sequence(self, x)
        check_neuron_input(self, x, "[T, B, ...]")
        return self._parallel(x)

    def run(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """``(spikes [T, B, ...], last k-1 inputs)``; ``state`` continues a stream."""
        check_neuron_sequence(self, x)
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
        kernel = "" if self.kernel == "auto" else f", kernel={self.kernel!r}"
        return (
            f"k={self.k}, init={self.init!r}, backend={self.backend!r}, "
            f"surrogate={self.surrogate}{kernel}"
        )
