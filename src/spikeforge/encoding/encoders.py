r"""Input encoders: analog data ``[B, ...]`` (or a series ``[T, B, ...]``) → spikes ``[T, B, ...]``.

- :func:`direct`: repeat the analog input at every step (the first layer encodes).
- :func:`poisson`: ``S[t] ~ Bernoulli(gain·x)``; ``signed=True`` gives ``sign(x)·Bernoulli(|x|)``.
- :func:`latency`: one spike per input, earlier for larger intensities (linear or RC/log).
- :func:`delta`: delta modulation of a time series, a spike where the signal changed.
- :func:`population`: Gaussian receptive fields over the input range, P neurons per input
  (Bohte, Kok & La Poutré, Neurocomputing 2002), as latency spikes, rate spikes or the
  analog responses; the population axis is folded into the sample's first axis,
  ``[B, C, ...]`` → ``[T, B, C·P, ...]`` (``[B]`` → ``[T, B, P]``).

Spikes are 0/1 (or ±1 for signed/off spikes) in the input's floating dtype. Stochastic
encoders draw every random number from the ``generator`` they are given, so a seeded
generator reproduces the output exactly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._registry import Registry
from .._validation import check_choice, check_positive, check_sequence

ENCODERS: Registry[type[nn.Module]] = Registry("encoder")

LATENCY_MODES = ("linear", "log")
POPULATION_MODES = ("latency", "rate", "direct")


def _check_timesteps(timesteps: object) -> int:
    # bool is an int subclass; True steps is almost certainly a mistake.
    if isinstance(timesteps, bool) or not isinstance(timesteps, int):
        raise TypeError(f"timesteps must be an int >= 1, got {type(timesteps).__name__}")
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got {timesteps}")
    return timesteps


def _check_analog(x: object, name: str = "input") -> torch.Tensor:
    """Check ``x`` is a floating tensor ``[B, ...]`` (at least one dim, the batch)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [B, ...], got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (spikes take its dtype), got {x.dtype}"
        )
    if x.dim() < 1:
        raise ValueError(f"{name} must have shape [B, ...] (at least 1 dim), got a 0-dim tensor")
    return x


def _check_range(x: torch.Tensor, low: float, high: float, name: str, hint: str = "") -> None:
    if x.numel() == 0:
        return
    lo, hi = float(x.min()), float(x.max())
    # NaN fails both comparisons, so test "inside" rather than "outside".
    if not (lo >= low and hi <= high):
        raise ValueError(f"{name} must lie in [{low}, {high}], got values in [{lo}, {hi}]{hint}")


def _time_index(timesteps: int, like: torch.Tensor) -> torch.Tensor:
    """``arange(T)`` shaped ``[T, 1, ..., 1]`` to broadcast against ``[B, ...]``."""
    return torch.arange(timesteps, device=like.device).view(timesteps, *([1] * like.dim()))


# ---------------------------------------------------------------------------------------
# functional encoders


def direct(x: torch.Tensor, timesteps: int) -> torch.Tensor:
    """Repeat ``x`` ``[B, ...]`` at every step → ``[T, B, ...]`` (differentiable in ``x``).

    A real copy rather than an ``expand`` view, so downstream in-place ops are safe.
    """
    timesteps = _check_timesteps(timesteps)
    _check_analog(x)
    return x.unsqueeze(0).repeat(timesteps, *([1] * x.dim()))


def poisson(
    x: torch.Tensor,
    timesteps: int,
    gain: float = 1.0,
    signed: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Rate (Bernoulli) coding: ``S[t] ~ Bernoulli(min(gain·x, 1))`` independently per step.

    Args:
        x: intensities ``[B, ...]`` in ``[0, 1]`` (``[-1, 1]`` when ``signed``).
        timesteps: number of steps T.
        gain: scales the firing probability (clamped to 1 afterwards).
        signed: emit ``sign(x)·Bernoulli(|x|)`` (spikes in {-1, 0, 1}), as LaSNN does for
            inputs normalised to ``[-1, 1]``.
        generator: source of all randomness.

    Returns:
        Spikes ``[T, B, ...]`` in ``x.dtype``; the expected rate of each input is its
        (gain-scaled) intensity. Not differentiable (sampling has no gradient).
    """
    timesteps = _check_timesteps(timesteps)
    _check_analog(x)
    check_positive(gain, "gain")
    if signed:
        _check_range(x, -1.0, 1.0, "poisson input (signed=True)")
    else:
        _check_range(x, 0.0, 1.0, "poisson input", " (pass signed=True for inputs in [-1, 1])")
    prob = torch.clamp(gain * x.detach().abs(), max=1.0)
    u = torch.rand((timesteps, *x.shape), generator=generator, dtype=x.dtype, device=x.device)
    # u is in [0, 1): probability 0 never fires and probability 1 always does.
    spikes = (u < prob).to(x.dtype)
    if signed:
        spikes = spikes * torch.sign(x.detach())
    return spikes


def latency_times(
    x: torch.Tensor,
    timesteps: int,
    mode: str = "linear",
    threshold: float = 0.01,
    tau: float | None = None,
    epsilon: float = 1e-3,
    clip: bool = False,
) -> torch.Tensor:
    r"""Spike step of each input for :func:`latency` (``int64``, ``[B, ...]``; silent = T).

    ``linear``: ``t = round((1 - x)·(T - 1))``.

    ``log`` (RC circuit charged by a constant current x towards a threshold θ):
    ``t = τ·ln(x / (x - θ))`` for ``x > θ``, rounded and clipped to ``T - 1``. With
    ``tau=None`` τ is normalised to the step budget, ``τ = (T - 1) / ln((θ + ε) / ε)``,
    so an intensity of ``θ + ε`` fires on the last step; the scaling does not depend on
    the batch, so an input's code never depends on the other inputs.

    In both modes an intensity ``x <= θ`` never reaches threshold: it fires on the last
    step, or never when ``clip=True``. The spike time is non-increasing in ``x``.
    """
    timesteps = _check_timesteps(timesteps)
    _check_analog(x)
    check_choice(mode, "mode", LATENCY_MODES)
    _check_range(x, 0.0, 1.0, "latency input")
    if mode == "linear":
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold must lie in [0, 1) for mode='linear', got {threshold}")
    elif not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie in (0, 1) for mode='log', got {threshold}")
    if tau is not None:
        check_positive(tau, "tau")
    check_positive(epsilon, "epsilon")

    last = timesteps - 1
    # Times are computed in float64 so rounding never breaks monotonicity in float32.
    xd = x.detach().to(torch.float64)
    above = xd > threshold
    if mode == "linear":
        raw = (1.0 - xd) * last
    else:
        scale = tau if tau is not None else last / math.log((threshold + epsilon) / epsilon)
        # ln(x / (x - θ)) = -log1p(-θ / x); this form is monotone in x and finite for
        # x > θ. Masked entries get a dummy x = 1 to keep the log finite.
        safe = torch.where(above, xd, torch.ones_like(xd))
        raw = -scale * torch.log1p(-threshold / safe)
    steps = torch.clamp(torch.round(raw), 0, last).to(torch.int64)
    below = torch.full_like(steps, timesteps if clip else last)
    return torch.where(above, steps, below)


def latency(
    x: torch.Tensor,
    timesteps: int,
    mode: str = "linear",
    threshold: float = 0.01,
    tau: float | None = None,
    epsilon: float = 1e-3,
    clip: bool = False,
) -> torch.Tensor:
    """Latency (time-to-first-spike) coding: each input fires once, brighter → earlier.

    Args:
        x: intensities ``[B, ...]`` in ``[0, 1]``.
        timesteps: number of steps T.
        mode: ``"linear"`` or ``"log"`` (RC circuit); see :func:`latency_times`.
        threshold: intensities at or below it fire on the last step (or never if
            ``clip``).
        tau: RC time constant in steps for ``"log"``; ``None`` normalises it to T.
        epsilon: for the normalised ``"log"`` code, ``threshold + epsilon`` maps to T-1.
        clip: silence sub-threshold inputs instead of firing them on the last step.

    Returns:
        Spikes ``[T, B, ...]`` in ``x.dtype``, exactly one per input (none if clipped).
    """
    times = latency_times(x, timesteps, mode, threshold, tau, epsilon, clip)
    return (_time_index(timesteps, times) == times.unsqueeze(0)).to(x.dtype)


def delta(
    x: torch.Tensor,
    threshold: float = 0.1,
    off_spike: bool = False,
    padding: bool = False,
) -> torch.Tensor:
    """Delta modulation of a time series ``x`` ``[T, B, ...]`` → spikes ``[T, B, ...]``.

    ``S[t] = +1`` where ``x[t] - x[t-1] > threshold``; with ``off_spike`` also ``-1`` where
    ``x[t] - x[t-1] < -threshold``; 0 elsewhere. The step before the first is zeros, or
    ``x[0]`` itself when ``padding=True`` (then step 0 never fires).
    """
    check_sequence(x)
    if not x.is_floating_point():
        raise TypeError(f"delta input must be a floating-point tensor, got {x.dtype}")
    check_positive(threshold, "threshold", allow_zero=True)
    x = x.detach()
    previous = torch.cat([x[:1] if padding else torch.zeros_like(x[:1]), x[:-1]], dim=0)
    change = x - previous
    spikes = (change > threshold).to(x.dtype)
    if off_spike:
        spikes = spikes - (change < -threshold).to(x.dtype)
    return spikes


def _check_population_options(
    population: object, low: float, high: float, width: float | None
) -> int:
    if isinstance(population, bool) or not isinstance(population, int):
        raise TypeError(f"population must be an int >= 1, got {type(population).__name__}")
    if population < 1:
        raise ValueError(f"population must be >= 1 (neurons per input), got {population}")
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"the input range needs finite low < high, got [{low}, {high}]")
    if width is not None:
        check_positive(width, "width")
    return population


def population_responses(
    x: torch.Tensor,
    population: int,
    low: float = 0.0,
    high: float = 1.0,
    width: float | None = None,
) -> torch.Tensor:
    r"""Gaussian receptive-field responses in ``(0, 1]``: ``[B, C, ...]`` → ``[B, C·P, ...]``.

    Field p of every input has centre ``μ_p = low + p·(high - low)/(P - 1)`` (P centres
    evenly spaced over the range, its ends included; P = 1: the middle) and width
    ``σ = width``, by default ``(high - low) / (1.5·(P - 1))`` (Bohte et al.'s γ = 1.5:
    neighbouring fields cross at 0.75; P = 1: ``high - low``); its response is
    ``exp(-(x - μ_p)² / (2σ²))``. The P responses of input feature c sit at
    ``c·P … c·P + P - 1`` of the sample's first axis (an image's channels); a batch of
    scalars ``[B]`` gives ``[B, P]``. Differentiable in ``x``.
    """
    _check_analog(x)
    population = _check_population_options(population, low, high, width)
    span = high - low
    if population == 1:
        centres = torch.tensor([low + span / 2], dtype=x.dtype, device=x.device)
        sigma = span if width is None else width
    else:
        centres = torch.linspace(low, high, population, dtype=x.dtype, device=x.device)
        sigma = span / (1.5 * (population - 1)) if width is None else width
    flat = x.unsqueeze(1) if x.dim() == 1 else x  # [B] -> [B, 1]
    # [B, C, P, ...]: the field axis right after the feature axis, then folded into it.
    shape = [1, 1, population] + [1] * (flat.dim() - 2)
    r = torch.exp(-((flat.unsqueeze(2) - centres.view(shape)) ** 2) / (2 * sigma**2))
    return r.flatten(1, 2)


def population(
    x: torch.Tensor,
    timesteps: int,
    population: int = 8,
    low: float = 0.0,
    high: float = 1.0,
    width: float | None = None,
    mode: str = "latency",
    threshold: float = 0.1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Population coding with Gaussian receptive fields: ``[B, C, ...]`` → ``[T, B, C·P, ...]``.

    Each input feature is seen by P neurons with the responses ``r`` of
    :func:`population_responses` (layout: feature c's neurons at ``c·P … c·P + P - 1``
    of the first sample axis, so an image's channels grow from C to C·P and an image
    model sized from the encoded shape takes it as is).

    Args:
        x: inputs ``[B, ...]`` in ``[low, high]``.
        timesteps: number of steps T.
        population: P, neurons per input feature.
        low, high: the input range the fields cover.
        width: the fields' σ in input units (default: see :func:`population_responses`).
        mode: ``"latency"`` (Bohte et al.: each neuron fires once, at step
            ``round((1 - r)·(T - 1))``, and a neuron with ``r <= threshold`` stays
            silent), ``"rate"`` (``Bernoulli(r)`` every step, from ``generator``) or
            ``"direct"`` (the analog responses at every step, differentiable).
        threshold: the weakest response that fires in ``"latency"`` mode, in [0, 1).
        generator: source of all randomness (``"rate"``).

    Returns:
        ``[T, B, C·P, ...]`` in ``x.dtype``: 0/1 spikes, or responses for ``"direct"``.
    """
    timesteps = _check_timesteps(timesteps)
    check_choice(mode, "mode", POPULATION_MODES)
    _check_analog(x)
    _check_population_options(population, low, high, width)
    _check_range(x.detach(), low, high, "population input", " (set low/high to the data's range)")
    r = population_responses(x, population, low, high, width)
    if mode == "direct":
        return direct(r, timesteps)
    if mode == "rate":
        return poisson(r, timesteps, generator=generator)
    times = latency_times(r, timesteps, "linear", threshold, clip=True)
    return (_time_index(timesteps, times) == times.unsqueeze(0)).to(x.dtype)


# ---------------------------------------------------------------------------------------
# registered encoder modules (parameter-free; usable inside nn.Sequential)


@ENCODERS.register("direct")
class DirectEncoder(nn.Module):
    """Module form of :func:`direct`: ``[B, ...]`` → ``[T, B, ...]``."""

    def __init__(self, timesteps: int) -> None:
        super().__init__()
        self.timesteps = _check_timesteps(timesteps)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        # generator is accepted (and unused) so every encoder has the same call signature.
        return direct(x, self.timesteps)

    def extra_repr(self) -> str:
        return f"timesteps={self.timesteps}"


@ENCODERS.register("poisson")
class PoissonEncoder(nn.Module):
    """Module form of :func:`poisson`: ``[B, ...]`` → ``[T, B, ...]``."""

    def __init__(self, timesteps: int, gain: float = 1.0, signed: bool = False) -> None:
        super().__init__()
        self.timesteps = _check_timesteps(timesteps)
        check_positive(gain, "gain")
        self.gain = gain
        self.signed = signed

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return poisson(x, self.timesteps, self.gain, self.signed, generator=generator)

    def extra_repr(self) -> str:
        return f"timesteps={self.timesteps}, gain={self.gain}, signed={self.signed}"


@ENCODERS.register("latency")
class LatencyEncoder(nn.Module):
    """Module form of :func:`latency`: ``[B, ...]`` → ``[T, B, ...]``."""

    def __init__(
        self,
        timesteps: int,
        mode: str = "linear",
        threshold: float = 0.01,
        tau: float | None = None,
        epsilon: float = 1e-3,
        clip: bool = False,
    ) -> None:
        super().__init__()
        self.timesteps = _check_timesteps(timesteps)
        self.mode = check_choice(mode, "mode", LATENCY_MODES)
        self.threshold = threshold
        self.tau = tau
        self.epsilon = epsilon
        self.clip = clip

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return latency(
            x, self.timesteps, self.mode, self.threshold, self.tau, self.epsilon, self.clip
        )

    def extra_repr(self) -> str:
        return (
            f"timesteps={self.timesteps}, mode={self.mode!r}, threshold={self.threshold}, "
            f"tau={self.tau}, clip={self.clip}"
        )


@ENCODERS.register("delta")
class DeltaEncoder(nn.Module):
    """Module form of :func:`delta`: a series ``[T, B, ...]`` → spikes ``[T, B, ...]``.

    ``timesteps`` is optional (the series carries its own T); when given, inputs of
    another length are rejected.
    """

    def __init__(
        self,
        timesteps: int | None = None,
        threshold: float = 0.1,
        off_spike: bool = False,
        padding: bool = False,
    ) -> None:
        super().__init__()
        self.timesteps = None if timesteps is None else _check_timesteps(timesteps)
        check_positive(threshold, "threshold", allow_zero=True)
        self.threshold = threshold
        self.off_spike = off_spike
        self.padding = padding

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        check_sequence(x)
        if self.timesteps is not None and x.shape[0] != self.timesteps:
            raise ValueError(
                f"delta encoder expects a series [T={self.timesteps}, B, ...], got shape "
                f"{tuple(x.shape)}"
            )
        return delta(x, self.threshold, self.off_spike, self.padding)

    def extra_repr(self) -> str:
        return (
            f"timesteps={self.timesteps}, threshold={self.threshold}, "
            f"off_spike={self.off_spike}, padding={self.padding}"
        )


@ENCODERS.register("population")
class PopulationEncoder(nn.Module):
    """Module form of :func:`population`: ``[B, C, ...]`` → ``[T, B, C·P, ...]``.

    :meth:`encoded_shape` maps a sample's shape to the encoded one (the engine sizes
    the model from it: an image's ``in_channels`` becomes C·P).
    """

    def __init__(
        self,
        timesteps: int,
        population: int = 8,
        low: float = 0.0,
        high: float = 1.0,
        width: float | None = None,
        mode: str = "latency",
        threshold: float = 0.1,
    ) -> None:
        super().__init__()
        self.timesteps = _check_timesteps(timesteps)
        self.population = _check_population_options(population, low, high, width)
        self.low, self.high, self.width = float(low), float(high), width
        self.mode = check_choice(mode, "mode", POPULATION_MODES)
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold must lie in [0, 1) (a field response), got {threshold}")
        self.threshold = threshold

    def encoded_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """One sample's shape ``(C, ...)`` → ``(C·P, ...)`` (``()`` → ``(P,)``)."""
        shape = tuple(int(n) for n in shape)
        if not shape:
            return (self.population,)
        return (shape[0] * self.population, *shape[1:])

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return population(
            x,
            self.timesteps,
            self.population,
            self.low,
            self.high,
            self.width,
            self.mode,
            self.threshold,
            generator=generator,
        )

    def extra_repr(self) -> str:
        return (
            f"timesteps={self.timesteps}, population={self.population}, "
            f"range=[{self.low}, {self.high}], width={self.width}, mode={self.mode!r}, "
            f"threshold={self.threshold}"
        )
