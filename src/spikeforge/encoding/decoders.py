r"""Output decoders: output-layer activity ``[T, B, N]`` → per-class values ``[B, C]``.

- :func:`rate_decode`: spike count (or rate) per class; predict the most active class.
- :func:`first_spike_decode`: first spike step per class (silent = T); predict the
  earliest.
- :func:`population_decode`: C classes × P neurons each (neurons ``c·P … c·P + P - 1``
  belong to class c); counts summed per group; predict the most active group.
- :func:`membrane_decode`: mean or max over time of a non-spiking readout membrane.

Each registered decoder is a module whose ``forward`` gives the ``[B, C]`` values and
whose ``predict`` gives class indices ``[B]`` (``int64``; ties go to the lowest index).

Readout kinds (:data:`READOUT_KINDS`) say what a model's outputs ``[T, B, N]`` are:
``"spikes"`` (0/1 spikes of a spiking output layer), ``"membrane"`` (the analog membrane
of a non-spiking LI or linear readout, every step) or ``"analog"`` (an ANN's scores). A
model declares its kind (``readout_kind``, see :mod:`spikeforge.models`); each decoder
says which kinds it reads (``accepts``) and so does each objective
(:mod:`spikeforge.losses`), so that the engine refuses a pair that does not fit.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from .._registry import Registry
from .._validation import check_choice

DECODERS: Registry[type[nn.Module]] = Registry("decoder")

RATE_REDUCTIONS = ("sum", "mean")
MEMBRANE_REDUCTIONS = ("mean", "max")

#: What a model's outputs ``[T, B, N]`` are, and how messages name them.
READOUT_KINDS: dict[str, str] = {
    "spikes": "spiking (0/1 spikes of a spiking readout layer)",
    "membrane": "analog membrane (a non-spiking LI/linear readout)",
    "analog": "analog scores (an ANN's outputs)",
}
#: Kinds read by spike-count and spike-time codes, and by codes on analog values.
SPIKING_KINDS: tuple[str, ...] = ("spikes",)
ANALOG_KINDS: tuple[str, ...] = ("membrane", "analog")


def check_readout_kind(kind: object, name: str = "readout kind") -> str:
    """Check ``kind`` is one of :data:`READOUT_KINDS`."""
    return check_choice(kind, name, tuple(READOUT_KINDS))


def check_output(x: object, name: str = "output") -> torch.Tensor:
    """Check ``x`` is a floating tensor ``[T, B, N]`` (time, batch, output neurons)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [T, B, N], got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor [T, B, N], got dtype {x.dtype}")
    if x.dim() != 3:
        raise ValueError(
            f"{name} must have shape [T, B, N] (time, batch, output neurons), got shape "
            f"{tuple(x.shape)}; flatten feature dims before decoding"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} has zero time steps (shape {tuple(x.shape)}); expected T >= 1")
    return x


def check_count(value: object, name: str) -> int | None:
    """Check an optional count (``population``, ``num_classes``): ``None`` or an int >= 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= 1 or None, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def check_population(population: object) -> int | None:
    """Check a population size P (neurons per class): ``None`` or an int >= 1."""
    return check_count(population, "population (neurons per class)")


def num_groups(num_neurons: int, population: int | None, name: str = "output") -> int:
    """Number of classes C = N / P, raising when N is not a multiple of P."""
    if population is None:
        return num_neurons
    if num_neurons % population != 0:
        raise ValueError(
            f"{name} has {num_neurons} neurons, which is not a multiple of population="
            f"{population} neurons per class"
        )
    return num_neurons // population


def rate_decode(spikes: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """Spike count (``"sum"``) or firing rate (``"mean"``) over time: ``[T, B, C]`` → ``[B, C]``."""
    check_output(spikes, "spikes")
    check_choice(reduction, "reduction", RATE_REDUCTIONS)
    return spikes.sum(0) if reduction == "sum" else spikes.mean(0)


def first_spike_decode(spikes: torch.Tensor, population: int | None = None) -> torch.Tensor:
    """First step with a nonzero spike, ``[T, B, C]`` → ``[B, C]`` (silent neurons = T).

    With ``population=P`` (``[T, B, C·P]``) a class's time is that of its earliest
    neuron. Returned in the spikes' dtype (not differentiable; see
    :func:`spikeforge.losses.objectives.first_spike_time` for a differentiable form).
    """
    check_output(spikes, "spikes")
    population = check_population(population)
    T = spikes.shape[0]
    fired = spikes.detach() != 0
    steps = torch.arange(T, device=spikes.device).view(T, 1, 1).expand_as(fired)
    # Steps without a spike are pushed to T so the minimum picks the first spike.
    first = torch.where(fired, steps, torch.full_like(steps, T)).amin(0)
    if population is not None:
        B, N = first.shape
        first = first.reshape(B, num_groups(N, population, "spikes"), population).amin(-1)
    return first.to(spikes.dtype)


def population_decode(
    spikes: torch.Tensor, population: int, reduction: str = "sum"
) -> torch.Tensor:
    """Per-class population activity: ``[T, B, C·P]`` → ``[B, C]``.

    Neurons ``c·P … c·P + P - 1`` code class c; their counts (``"sum"``) or mean rates
    over time (``"mean"``) are summed per class.
    """
    population = check_population(population)
    if population is None:
        raise TypeError("population_decode needs population (neurons per class), got None")
    scores = rate_decode(spikes, reduction)
    B, N = scores.shape
    C = num_groups(N, population, "spikes")
    return scores.reshape(B, C, population).sum(-1)


def membrane_decode(
    membrane: torch.Tensor, reduction: str = "mean", population: int | None = None
) -> torch.Tensor:
    """Mean or max over time of a readout membrane: ``[T, B, C]`` → ``[B, C]``.

    With ``population=P`` (``[T, B, C·P]``) a class's value is the mean over its P
    neurons (as :class:`~spikeforge.losses.CEMembrane` groups them).
    """
    check_output(membrane, "membrane")
    check_choice(reduction, "reduction", MEMBRANE_REDUCTIONS)
    population = check_population(population)
    values = membrane.mean(0) if reduction == "mean" else membrane.amax(0)
    if population is not None:
        B, N = values.shape
        values = values.reshape(B, num_groups(N, population, "membrane"), population).mean(-1)
    return values


@DECODERS.register("rate")
class RateDecoder(nn.Module):
    """Spike counts per class ``[B, C]``; ``predict`` = argmax (most spikes)."""

    accepts: ClassVar[tuple[str, ...]] = SPIKING_KINDS

    def __init__(self, reduction: str = "sum") -> None:
        super().__init__()
        self.reduction = check_choice(reduction, "reduction", RATE_REDUCTIONS)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        return rate_decode(spikes, self.reduction)

    def predict(self, spikes: torch.Tensor) -> torch.Tensor:
        """Class indices ``[B]``."""
        return self.forward(spikes).argmax(-1)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


@DECODERS.register("first_spike")
class FirstSpikeDecoder(nn.Module):
    """First spike step per class ``[B, C]`` (silent = T); ``predict`` = argmin (earliest).

    Args:
        population: P neurons per class (a class fires with its earliest neuron), or
            ``None``.
    """

    accepts: ClassVar[tuple[str, ...]] = SPIKING_KINDS

    def __init__(self, population: int | None = None) -> None:
        super().__init__()
        self.population = check_population(population)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        return first_spike_decode(spikes, self.population)

    def predict(self, spikes: torch.Tensor) -> torch.Tensor:
        """Class indices ``[B]``."""
        return self.forward(spikes).argmin(-1)

    def extra_repr(self) -> str:
        return f"population={self.population}"


@DECODERS.register("population")
class PopulationDecoder(nn.Module):
    """Population counts per class ``[B, C]`` from ``[T, B, C·P]``; ``predict`` = argmax.

    On an analog readout (``"membrane"``/``"analog"``) the same sum is taken over the
    values: a class's summed membrane over time and its P neurons.

    Args:
        population: P, neurons per class (class c owns neurons ``c·P … c·P + P - 1``).
        num_classes: if given, inputs must have exactly ``num_classes·P`` neurons.
        reduction: ``"sum"`` (counts) or ``"mean"`` (rates) over time.
    """

    accepts: ClassVar[tuple[str, ...]] = (*SPIKING_KINDS, *ANALOG_KINDS)

    def __init__(
        self, population: int, num_classes: int | None = None, reduction: str = "sum"
    ) -> None:
        super().__init__()
        checked = check_population(population)
        if checked is None:
            raise TypeError("PopulationDecoder needs population (neurons per class), got None")
        self.population = checked
        self.num_classes = check_count(num_classes, "num_classes")
        self.reduction = check_choice(reduction, "reduction", RATE_REDUCTIONS)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        check_output(spikes, "spikes")
        if self.num_classes is not None:
            expected = self.num_classes * self.population
            if spikes.shape[-1] != expected:
                raise ValueError(
                    f"spikes must have num_classes·population = {self.num_classes}·"
                    f"{self.population} = {expected} neurons, got {spikes.shape[-1]}"
                )
        return population_decode(spikes, self.population, self.reduction)

    def predict(self, spikes: torch.Tensor) -> torch.Tensor:
        """Class indices ``[B]``."""
        return self.forward(spikes).argmax(-1)

    def extra_repr(self) -> str:
        return (
            f"population={self.population}, num_classes={self.num_classes}, "
            f"reduction={self.reduction!r}"
        )


@DECODERS.register("membrane")
class MembraneDecoder(nn.Module):
    """Membrane mean or max over time ``[B, C]``; ``predict`` = argmax.

    Args:
        reduction: ``"mean"`` or ``"max"`` over time.
        population: P neurons per class (their values averaged), or ``None``.
    """

    accepts: ClassVar[tuple[str, ...]] = ANALOG_KINDS

    def __init__(self, reduction: str = "mean", population: int | None = None) -> None:
        super().__init__()
        self.reduction = check_choice(reduction, "reduction", MEMBRANE_REDUCTIONS)
        self.population = check_population(population)

    def forward(self, membrane: torch.Tensor) -> torch.Tensor:
        return membrane_decode(membrane, self.reduction, self.population)

    def predict(self, membrane: torch.Tensor) -> torch.Tensor:
        """Class indices ``[B]``."""
        return self.forward(membrane).argmax(-1)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, population={self.population}"
