r"""Linear-in-time operators that make neurons parallel over time (PSN, PSU, ParaLIF).

Without a reset, a neuron's membrane is a *linear* function of its whole input
sequence, ``H = W X`` with ``W ∈ R^{T×T}`` acting on the time axis. Every function
here applies such a ``W`` (or a kernel that defines one) to ``x`` ``[T, B, ...]`` as
ONE matrix product over ``[T, B·N]`` — no Python loop over time, which is where the
speed of the parallel neuron family comes from.

Kernel matrices (``β = 1 - 1/τ``; rows are output times t, columns input times i):

- LIF charge without reset, ``decay_input=True``:  ``W[t, i] = β^{t-i} / τ``  (i ≤ t)
- LIF charge without reset, ``decay_input=False``: ``W[t, i] = β^{t-i}``      (i ≤ t)
- soft-reset propagation (PSU's ``B_R``):          ``R[t, i] = β^{t-i}``      (i < t)
- banded causal mask of order k (masked PSN):       ``M_k[t, i] = 1`` iff ``i ≤ t ≤ i + k - 1``
- Toeplitz matrix of a length-k kernel ``w`` (sliding PSN):
  ``W[t, i] = w[k - 1 - (t - i)]`` for ``0 ≤ t - i ≤ k - 1``.

Causal convolutions over time ``y[t] = Σ_{j=0}^{t} h[j] x[t - j]`` are offered three
ways with identical results: Toeplitz GEMM, ``conv1d`` (short kernels) and FFT (long
sequences).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .._validation import check_sequence
from ..surrogates import Surrogate
from .backends import dispatch, register_kernel
from .spike import spike

Scalar = float | torch.Tensor


def _decay(tau: Scalar) -> Scalar:
    """``β = 1 - 1/τ`` with the same checks as the LIF neurons (τ ≥ 1)."""
    if not isinstance(tau, torch.Tensor) and (
        not isinstance(tau, int | float) or not 1.0 <= tau < math.inf  # refuses NaN too
    ):
        raise ValueError(f"tau must be a finite number >= 1 (so that 0 <= beta < 1), got {tau!r}")
    return 1.0 - 1.0 / tau


def _lags(T: int, device: torch.device | None) -> torch.Tensor:
    """``d[t, i] = t - i`` as an integer matrix ``[T, T]``."""
    idx = torch.arange(T, device=device)
    return idx[:, None] - idx[None, :]


def _check_length(T: int, name: str = "T") -> None:
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ValueError(f"{name} must be a positive int, got {T!r}")


def lif_kernel_matrix(
    T: int,
    tau: Scalar = 2.0,
    decay_input: bool = True,
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    r"""``[T, T]`` matrix ``W`` with ``H = W X`` for a LIF neuron without reset from rest.

    ``W[t, i] = c β^{t-i}`` for ``i ≤ t`` (else 0), ``c = 1/τ`` if ``decay_input`` else 1.
    ``tau`` may be a 0-d tensor (learnable decay); the result is then differentiable.
    """
    _check_length(T)
    beta = _decay(tau)
    lags = _lags(T, device)
    power = lags.clamp(min=0).to(dtype or torch.get_default_dtype())
    beta_t = torch.as_tensor(beta, dtype=power.dtype, device=device)
    w = torch.where(lags >= 0, beta_t**power, torch.zeros((), dtype=power.dtype, device=device))
    return w / tau if decay_input else w


def reset_kernel_matrix(
    T: int,
    tau: Scalar = 2.0,
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    r"""Strictly lower-triangular ``R[t, i] = β^{t-i}`` (``i < t``): how a soft reset at
    step ``i`` (subtracting ``V_th``) has decayed by step ``t``."""
    _check_length(T)
    beta = _decay(tau)
    lags = _lags(T, device)
    power = lags.clamp(min=0).to(dtype or torch.get_default_dtype())
    beta_t = torch.as_tensor(beta, dtype=power.dtype, device=device)
    return torch.where(lags > 0, beta_t**power, torch.zeros((), dtype=power.dtype, device=device))


def causal_band_mask(
    T: int, k: int, dtype: torch.dtype | None = None, device: torch.device | None = None
) -> torch.Tensor:
    """``M_k[t, i] = 1`` iff ``i ≤ t ≤ i + k - 1`` (``k >= T`` gives the lower triangle)."""
    _check_length(T)
    _check_length(k, "k")
    lags = _lags(T, device)
    return ((lags >= 0) & (lags < k)).to(dtype or torch.get_default_dtype())


def toeplitz_from_kernel(weight: torch.Tensor, T: int) -> torch.Tensor:
    r"""Lower-triangular banded Toeplitz ``[T, T]`` of a sliding kernel ``weight`` ``[k]``.

    ``W[t, i] = weight[k - 1 - (t - i)]`` for ``0 ≤ t - i ≤ k - 1`` — so
    ``(W X)[t] = Σ_{j=0}^{k-1} weight[j] X[t - k + 1 + j]`` (zero before t = 0), the
    sliding-PSN charge. Differentiable w.r.t. ``weight`` (built by gathering, no loop).
    """
    _check_length(T)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 1 or weight.numel() == 0:
        raise ValueError(f"weight must be a non-empty 1-d tensor [k], got {weight!r:.60}")
    k = weight.shape[0]
    lags = _lags(T, weight.device)
    inside = (lags >= 0) & (lags < k)
    gathered = weight[(k - 1 - lags).clamp(0, k - 1)]
    return torch.where(inside, gathered, torch.zeros((), dtype=weight.dtype, device=weight.device))


def kernel_to_causal_filter(weight: torch.Tensor) -> torch.Tensor:
    """Sliding-PSN weight ``[w_0 .. w_{k-1}]`` (oldest first) as an impulse response
    ``h[j]`` (lag j) — the same numbers reversed: ``h = flip(w)``."""
    return torch.flip(weight, dims=(0,))


def temporal_matmul(
    weight: torch.Tensor, x: torch.Tensor, bias: torch.Tensor | float | None = None
) -> torch.Tensor:
    r"""``H = W X + b`` over time in one GEMM: ``weight`` ``[T_out, T]``, ``x`` ``[T, B, ...]``.

    ``bias`` is ``None``, a scalar, or per output step ``[T_out]``. Returns
    ``[T_out, B, ...]``.
    """
    check_sequence(x, "x")
    if weight.dim() != 2 or weight.shape[1] != x.shape[0]:
        raise ValueError(
            f"weight must be [T_out, T] with T = {x.shape[0]} (the input's time steps), "
            f"got shape {tuple(weight.shape)}"
        )
    flat = x.reshape(x.shape[0], -1)
    if isinstance(bias, torch.Tensor) and bias.dim() == 1:
        out = torch.addmm(bias.unsqueeze(1), weight, flat)
    else:
        out = weight @ flat
        if bias is not None:
            out = out + bias
    return out.reshape(weight.shape[0], *x.shape[1:])


def causal_conv_time(x: torch.Tensor, impulse: torch.Tensor) -> torch.Tensor:
    r"""``y[t] = Σ_{j=0}^{min(t, K-1)} h[j] x[t - j]`` by ``conv1d``: ``x`` ``[T, B, ...]``,
    ``impulse`` ``h`` ``[K]`` (lag j). Best for short kernels (sliding PSN)."""
    check_sequence(x, "x")
    T = x.shape[0]
    K = impulse.shape[0]
    # conv1d wants [N, C=1, T] and computes cross-correlation, hence the flipped kernel
    # and k-1 zeros of left padding (causal).
    seq = x.reshape(T, -1).t().unsqueeze(1)
    seq = F.pad(seq, (K - 1, 0))
    y = F.conv1d(seq, torch.flip(impulse, dims=(0,)).view(1, 1, K))
    return y.squeeze(1).t().reshape(x.shape)


def causal_conv_shift(x: torch.Tensor, impulse: torch.Tensor) -> torch.Tensor:
    r"""Same as :func:`causal_conv_time` as ``K`` shifted multiply-adds over time
    (``O(K·T)`` per neuron, no transposes): the fastest CPU choice for short kernels on
    long sequences."""
    check_sequence(x, "x")
    T = x.shape[0]
    out = x * impulse[0]
    for lag in range(1, min(impulse.shape[0], T)):
        # Only the slice t >= lag receives x[t - lag]; index_add keeps it out of place.
        out = torch.cat([out[:lag], out[lag:] + impulse[lag] * x[: T - lag]])
    return out


def causal_conv_fft(x: torch.Tensor, impulse: torch.Tensor) -> torch.Tensor:
    r"""Same as :func:`causal_conv_time` via the convolution theorem (zero-padded to
    ``2T`` so the circular convolution is linear): ``O(T log T)`` per neuron."""
    check_sequence(x, "x")
    T = x.shape[0]
    n = 2 * T
    h = impulse[:T]
    spectrum = torch.fft.rfft(h, n=n).reshape(-1, *([1] * (x.dim() - 1)))
    y = torch.fft.irfft(torch.fft.rfft(x, n=n, dim=0) * spectrum, n=n, dim=0)
    return y[:T]


def leaky_impulse_response(
    T: int,
    beta: Scalar,
    alpha: Scalar | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    r"""Impulse response ``k[n] = β^n (1 - β)`` of ``m[n] = β m[n-1] + (1-β) I[n]``
    (ParaLIF's leaky integrator), optionally preceded by a synaptic filter
    ``I[n] = α I[n-1] + X[n]`` (impulse ``α^n``): then ``h = k * ℓ`` (``[T]``).
    """
    _check_length(T)
    n = torch.arange(T, dtype=dtype or torch.get_default_dtype(), device=device)
    beta_t = torch.as_tensor(beta, dtype=n.dtype, device=device)
    k = beta_t**n * (1.0 - beta_t)
    if alpha is None:
        return k
    alpha_t = torch.as_tensor(alpha, dtype=n.dtype, device=device)
    syn = alpha_t**n
    # h[n] = Σ_j k[j] ℓ[n-j]: a T×T lower-triangular product, negligible next to the data.
    return toeplitz_from_kernel(torch.flip(syn, dims=(0,)), T) @ k


LEAKY_METHODS = ("auto", "fft", "direct")
#: Sequence length from which "auto" integrates by FFT instead of the Toeplitz GEMM.
#: Measured on CPU (fwd+bwd, 16384 neurons, float32, 2 shared cores): the GEMM was
#: faster at every T tried (T = 32..512, by 2-4×, e.g. 211 vs 895 ms at T = 256); the
#: FFT's O(T log T) must win eventually over the GEMM's O(T²), so the switch is put at
#: 1024 — above the measured range, not a measured crossover.
FFT_MIN_STEPS = 1024


def leaky_integrate(x: torch.Tensor, impulse: torch.Tensor, method: str = "auto") -> torch.Tensor:
    r"""Parallel causal filtering of ``x`` ``[T, B, ...]`` by ``impulse`` ``[≥T]``.

    ``method``: ``"direct"`` = one Toeplitz GEMM (exact, best for short T), ``"fft"``
    (best for long T), ``"auto"`` = direct below :data:`FFT_MIN_STEPS`, else FFT.
    """
    check_sequence(x, "x")
    if method not in LEAKY_METHODS:
        raise ValueError(f"method must be one of {LEAKY_METHODS}, got {method!r}")
    T = x.shape[0]
    if impulse.dim() != 1 or impulse.shape[0] < T:
        raise ValueError(
            f"impulse must be 1-d with at least T = {T} entries, got shape {tuple(impulse.shape)}"
        )
    if method == "auto":
        method = "fft" if T >= FFT_MIN_STEPS else "direct"
    if method == "fft":
        return causal_conv_fft(x, impulse)
    matrix = toeplitz_from_kernel(torch.flip(impulse[:T], dims=(0,)), T)
    return temporal_matmul(matrix, x)


def shift_in_time(x: torch.Tensor, steps: int = 1) -> torch.Tensor:
    """``y[t] = x[t - steps]`` with zeros for ``t < steps`` (same shape as ``x``)."""
    if steps <= 0:
        return x
    pad = torch.zeros_like(x[: min(steps, x.shape[0])])
    return torch.cat([pad, x[: x.shape[0] - steps]], dim=0)[: x.shape[0]]


# --- threshold spikes of a temporal product: the "psn" kernel family ---------------------


class PSNParameters(NamedTuple):
    """What the ``"psn"`` kernels take besides ``x``: spikes ``Θ(W X + b)``.

    ``weight`` ``[T, T]``; ``bias`` ``[T]`` (one value per output step, e.g. ``-threshold``)
    or ``None``; ``surrogate`` the backward of the Heaviside step; ``grad_band``
    ``(lag_lo, lag_hi)``: the lags ``t - i`` at which ``weight``'s gradient is used (the
    caller's promise, e.g. ``(0, k - 1)`` for a banded causal weight) — a fused kernel may
    leave the gradient outside it at 0; ``None`` = everywhere.
    """

    weight: torch.Tensor
    bias: torch.Tensor | None
    surrogate: Surrogate
    grad_band: tuple[int, int] | None = None


@register_kernel("psn", "torch")
def threshold_spikes_reference(x: torch.Tensor, p: PSNParameters) -> torch.Tensor:
    """The ``"torch"`` kernel: ``spike(W X + b)`` by one ``addmm``, ``x`` ``[T, B, ...]`` ->
    spikes ``[T, B, ...]`` (``grad_band`` is ignored: the full gradient is exact anyway)."""
    return spike(temporal_matmul(p.weight, x, p.bias), p.surrogate)


def threshold_spikes(x: torch.Tensor, p: PSNParameters, backend: str = "auto") -> torch.Tensor:
    r"""Spikes ``S = Θ(W X + b)`` of ``x`` ``[T, B, ...]`` (fires at ``≥ 0``), surrogate
    gradient ``p.surrogate`` — the PSN family's membrane and firing in one call.

    ``backend``: ``"torch"`` (:func:`threshold_spikes_reference`), ``"cpu"`` (the fused C
    kernel: the product, threshold and surrogate blocked over neurons so that no
    ``[T, N]`` intermediate is stored; results equal to rounding — see
    :mod:`spikeforge.kernels.cpu.psn`), or ``"auto"`` (a fused kernel that supports the
    input, else ``"torch"``).
    """
    check_sequence(x, "x")
    T = x.shape[0]
    if p.weight.dim() != 2 or p.weight.shape != (T, T):
        raise ValueError(
            f"weight must be [T, T] with T = {T} (the input's time steps), "
            f"got shape {tuple(p.weight.shape)}"
        )
    if p.bias is not None and p.bias.shape != (T,):
        raise ValueError(f"bias must be None or [T] with T = {T}, got shape {tuple(p.bias.shape)}")
    return dispatch("psn", backend, x, p)(x, p)
