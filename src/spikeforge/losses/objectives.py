r"""Classification objectives on output-layer activity ``[T, B, N]`` and targets ``[B]``.

Rate codes: :class:`CERate` (cross-entropy on spike counts), :class:`MSECount` (counts
against target counts ``correct_rate·T`` / ``incorrect_rate·T``). Membrane readout:
:class:`CEMembrane` (cross-entropy on the membrane's mean or max over time, or per step:
:class:`CEPerStep`), :class:`MSEMembrane` (the membrane at every step against a target
value per class). Temporal
codes: :class:`CETemporal` (cross-entropy on negative first-spike times),
:class:`MSETemporal` (first-spike times against target times).

What an objective reads: each class says which readout kinds it accepts (``accepts``,
see :data:`~spikeforge.encoding.decoders.READOUT_KINDS`): the rate and temporal codes
need spikes (on analog values "counts" and "first spikes" mean nothing: ``ce_temporal``
on a random analog readout is 0.0), the membrane objectives an analog readout. The
engine refuses a model whose declared readout an objective does not accept. Each
objective also names its own readout, :meth:`_Objective.readout_decoder` (counts,
first-spike times or the membrane), which scores accuracy unless a decoder is
configured.

Population coding (``population=P``): the ``N = C·P`` outputs form C groups of P
neurons (class c owns neurons ``c·P … c·P + P - 1``). Each objective first reduces a
group to one class-level quantity — summed counts, mean membrane, or the group's first
spike (the earliest of its neurons) — and then applies the loss to those C values.

Every objective returns a scalar averaged over the batch.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .._registry import Registry
from .._validation import check_choice
from ..encoding.decoders import (
    ANALOG_KINDS,
    SPIKING_KINDS,
    FirstSpikeDecoder,
    MembraneDecoder,
    PopulationDecoder,
    RateDecoder,
    check_count,
    check_output,
    check_population,
    num_groups,
)

OBJECTIVES: Registry[type[nn.Module]] = Registry("objective")

MEMBRANE_REDUCTIONS = ("mean", "max", "per_step")


def check_targets(targets: object, outputs: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Check ``targets`` are class indices ``[B]`` (``int64``) matching ``outputs [T, B, ...]``."""
    if not isinstance(targets, torch.Tensor):
        raise TypeError(
            f"targets must be a torch.Tensor of class indices [B] (int64), got "
            f"{type(targets).__name__}"
        )
    if targets.dtype != torch.int64:
        raise TypeError(f"targets must be class indices of dtype torch.int64, got {targets.dtype}")
    B = outputs.shape[1]
    if targets.dim() != 1:
        hint = " (one-hot targets? pass class indices instead)" if targets.dim() == 2 else ""
        raise ValueError(
            f"targets must have shape [B] = [{B}] (class indices), got shape "
            f"{tuple(targets.shape)}{hint}"
        )
    if targets.shape[0] != B:
        hint = ""
        if outputs.shape[0] == targets.shape[0]:
            hint = " — did you pass [B, T, N] instead of time-major [T, B, N]?"
        raise ValueError(
            f"targets have batch size {targets.shape[0]} but outputs of shape "
            f"{tuple(outputs.shape)} (read as [T, B, N]) have batch size {B}{hint}"
        )
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= num_classes):
        raise ValueError(
            f"targets must be class indices in [0, {num_classes - 1}] for {num_classes} "
            f"classes, got values in [{int(targets.min())}, {int(targets.max())}]"
        )
    return targets


def first_spike_time(spikes: torch.Tensor, population: int | None = None) -> torch.Tensor:
    r"""Differentiable first-spike step, ``[T, B, N]`` → ``[B, C]`` (silent = T).

    With the "not yet fired" survival ``q[t] = ∏_{k<=t} (1 - S[k])``, the first spike
    step is ``Σ_t q[t]``: each step before the first spike contributes 1, every later
    one 0, and a silent neuron sums to T. For 0/1 spikes this equals the decoded step
    exactly, and it is a polynomial in the spikes, so gradients (e.g. surrogate ones)
    flow into every spike up to and including the first: raising ``S[k]`` for ``k``
    before the first spike at ``t*`` lowers the time by ``t* - k``.

    With ``population=P`` a group's survival is the product of its neurons' survivals,
    so the group's time is that of its earliest neuron. Spikes are expected in
    ``[0, 1]`` (``1 - S`` must stay a survival probability).
    """
    check_output(spikes, "spikes")
    T, B, N = spikes.shape
    survival = torch.cumprod(1.0 - spikes, dim=0)
    if population is not None:
        C = num_groups(N, population, "spikes")
        survival = survival.reshape(T, B, C, population).prod(-1)
    return survival.sum(0)


class _Objective(nn.Module):
    """Shared validation: outputs ``[T, B, N]``, targets ``[B]``, optional grouping.

    ``accepts``: the readout kinds the objective reads (spikes, or an analog readout).
    """

    accepts: ClassVar[tuple[str, ...]] = SPIKING_KINDS

    def __init__(self, population: int | None = None, num_classes: int | None = None) -> None:
        super().__init__()
        self.population = check_population(population)
        self.num_classes = check_count(num_classes, "num_classes")

    def _check(self, outputs: torch.Tensor, targets: torch.Tensor, name: str) -> int:
        """Validate and return the number of classes C."""
        check_output(outputs, name)
        C = num_groups(outputs.shape[-1], self.population, name)
        if self.num_classes is not None and self.num_classes != C:
            per = "" if self.population is None else f" ({self.population} neurons per class)"
            raise ValueError(
                f"{type(self).__name__} was built for num_classes={self.num_classes} but "
                f"{name} of shape {tuple(outputs.shape)} has {C} classes{per}"
            )
        check_targets(targets, outputs, C)
        return C

    def _counts(self, spikes: torch.Tensor) -> torch.Tensor:
        """Spike counts per class ``[B, C]`` (summed over a population group)."""
        counts = spikes.sum(0)
        if self.population is None:
            return counts
        B, N = counts.shape
        return counts.reshape(B, N // self.population, self.population).sum(-1)

    def readout_decoder(self) -> nn.Module:
        """The decoder of this objective's own code (its class scores for accuracy)."""
        raise NotImplementedError

    def _count_decoder(self) -> nn.Module:
        """Spike counts per class (summed over a population group)."""
        if self.population is None:
            return RateDecoder("sum")
        return PopulationDecoder(self.population, self.num_classes)

    def extra_repr(self) -> str:
        return f"population={self.population}, num_classes={self.num_classes}"


@OBJECTIVES.register("ce_rate")
class CERate(_Objective):
    """Cross-entropy with the spike counts ``Σ_t S[t]`` ``[B, C]`` as logits.

    Args:
        population: P neurons per class (counts summed per group), or ``None``.
        num_classes: if given, the outputs must have this many classes.
    """

    def forward(self, spikes: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``spikes`` ``[T, B, N]``, ``targets`` ``[B]`` → scalar."""
        self._check(spikes, targets, "spikes")
        return F.cross_entropy(self._counts(spikes), targets)

    def readout_decoder(self) -> nn.Module:
        """Spike counts (per population group): the most active class."""
        return self._count_decoder()


@OBJECTIVES.register("mse_count")
class MSECount(_Objective):
    """MSE between spike counts ``[B, C]`` and target counts.

    The target class should fire ``correct_rate·T`` times and the others
    ``incorrect_rate·T`` times (times P with a population: the group's total), so the
    loss is zero exactly there.

    Args:
        correct_rate: target firing rate (spikes per step) of the correct class.
        incorrect_rate: target firing rate of every other class (<= ``correct_rate``).
        population: P neurons per class, or ``None``.
        num_classes: if given, the outputs must have this many classes.
    """

    def __init__(
        self,
        correct_rate: float = 0.8,
        incorrect_rate: float = 0.2,
        population: int | None = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__(population, num_classes)
        for name, rate in (("correct_rate", correct_rate), ("incorrect_rate", incorrect_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1] (spikes per step), got {rate}")
        if incorrect_rate > correct_rate:
            raise ValueError(
                f"incorrect_rate ({incorrect_rate}) must not exceed correct_rate ({correct_rate})"
            )
        self.correct_rate = correct_rate
        self.incorrect_rate = incorrect_rate

    def target_counts(
        self, targets: torch.Tensor, T: int, C: int, like: torch.Tensor
    ) -> torch.Tensor:
        """Target counts ``[B, C]`` for class indices ``targets`` ``[B]`` over T steps."""
        P = self.population or 1
        on = F.one_hot(targets, C).to(like.dtype)
        rate = self.incorrect_rate + (self.correct_rate - self.incorrect_rate) * on
        return rate * (T * P)

    def forward(self, spikes: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``spikes`` ``[T, B, N]``, ``targets`` ``[B]`` → scalar."""
        C = self._check(spikes, targets, "spikes")
        counts = self._counts(spikes)
        return F.mse_loss(counts, self.target_counts(targets, spikes.shape[0], C, counts))

    def readout_decoder(self) -> nn.Module:
        """Spike counts (per population group): the most active class."""
        return self._count_decoder()

    def extra_repr(self) -> str:
        return (
            f"correct_rate={self.correct_rate}, incorrect_rate={self.incorrect_rate}, "
            f"{super().extra_repr()}"
        )


@OBJECTIVES.register("ce_membrane")
class CEMembrane(_Objective):
    """Cross-entropy on a readout membrane reduced over time (``"mean"`` or ``"max"``), or
    the mean over steps of each step's cross-entropy (``"per_step"``, the TET loss of Deng
    et al., ICLR 2022, and the loss of the online methods).

    Args:
        reduction: ``"mean"`` or ``"max"`` over time, or ``"per_step"``.
        population: P neurons per class (membranes averaged per group), or ``None``.
        num_classes: if given, the outputs must have this many classes.
        label_smoothing: as :func:`torch.nn.functional.cross_entropy`, in [0, 1).
    """

    accepts: ClassVar[tuple[str, ...]] = ANALOG_KINDS

    def __init__(
        self,
        reduction: str = "mean",
        population: int | None = None,
        num_classes: int | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(population, num_classes)
        self.reduction = check_choice(reduction, "reduction", MEMBRANE_REDUCTIONS)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, membrane: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``membrane`` ``[T, B, N]``, ``targets`` ``[B]`` → scalar."""
        C = self._check(membrane, targets, "membrane")
        if self.reduction == "per_step":  # every step a batch of its own
            logits, targets = membrane.flatten(0, 1), targets.repeat(membrane.shape[0])
        else:
            logits = membrane.mean(0) if self.reduction == "mean" else membrane.amax(0)
        if self.population is not None:
            logits = logits.reshape(logits.shape[0], C, self.population).mean(-1)
        return F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)

    def readout_decoder(self) -> nn.Module:
        """The membrane's max over time for ``"max"``, else its mean (per group)."""
        reduction = "max" if self.reduction == "max" else "mean"
        return MembraneDecoder(reduction, self.population)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, {super().extra_repr()}"


@OBJECTIVES.register("ce_per_step")
class CEPerStep(CEMembrane):
    """:class:`CEMembrane` with ``reduction="per_step"``: ``(1/T) Σ_t CE(membrane[t], y)``.

    Args:
        population, num_classes, label_smoothing: as :class:`CEMembrane`.
    """

    def __init__(
        self,
        population: int | None = None,
        num_classes: int | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__("per_step", population, num_classes, label_smoothing)


@OBJECTIVES.register("ce_temporal")
class CETemporal(_Objective):
    """Cross-entropy with negative first-spike times as logits (earliest class wins).

    Times come from :func:`first_spike_time` (silent = T), which is differentiable in
    the spikes, so surrogate gradients reach the network.

    Args:
        population: P neurons per class (a group fires when its first neuron does).
        num_classes: if given, the outputs must have this many classes.
    """

    def forward(self, spikes: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``spikes`` ``[T, B, N]``, ``targets`` ``[B]`` → scalar."""
        self._check(spikes, targets, "spikes")
        return F.cross_entropy(-first_spike_time(spikes, self.population), targets)

    def readout_decoder(self) -> nn.Module:
        """First-spike times (a group's earliest neuron): the earliest class."""
        return FirstSpikeDecoder(self.population)


@OBJECTIVES.register("mse_temporal")
class MSETemporal(_Objective):
    """MSE between first-spike times ``[B, C]`` and target times.

    The target class should first fire at step ``on_target`` and the others at
    ``off_target`` (``None`` = T, i.e. stay silent); the loss is zero exactly there.

    Args:
        on_target: target first-spike step of the correct class (``0 <= on_target <= T``).
        off_target: target step of the other classes; ``None`` means T (silent).
        population: P neurons per class (a group fires when its first neuron does).
        num_classes: if given, the outputs must have this many classes.
    """

    def __init__(
        self,
        on_target: int = 0,
        off_target: int | None = None,
        population: int | None = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__(population, num_classes)
        if on_target < 0:
            raise ValueError(f"on_target must be a step >= 0, got {on_target}")
        if off_target is not None and off_target < on_target:
            raise ValueError(
                f"off_target ({off_target}) must not be earlier than on_target ({on_target})"
            )
        self.on_target = on_target
        self.off_target = off_target

    def target_times(
        self, targets: torch.Tensor, T: int, C: int, like: torch.Tensor
    ) -> torch.Tensor:
        """Target first-spike steps ``[B, C]`` for class indices ``targets`` ``[B]``."""
        off = T if self.off_target is None else self.off_target
        for name, step in (("on_target", self.on_target), ("off_target", off)):
            if step > T:
                raise ValueError(f"{name}={step} lies beyond the T={T} steps of the input")
        on = F.one_hot(targets, C).to(like.dtype)
        return off + (self.on_target - off) * on

    def forward(self, spikes: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``spikes`` ``[T, B, N]``, ``targets`` ``[B]`` → scalar."""
        C = self._check(spikes, targets, "spikes")
        times = first_spike_time(spikes, self.population)
        return F.mse_loss(times, self.target_times(targets, spikes.shape[0], C, times))

    def readout_decoder(self) -> nn.Module:
        """First-spike times (a group's earliest neuron): the earliest class."""
        return FirstSpikeDecoder(self.population)

    def extra_repr(self) -> str:
        return f"on_target={self.on_target}, off_target={self.off_target}, {super().extra_repr()}"


@OBJECTIVES.register("mse_membrane")
class MSEMembrane(_Objective):
    r"""MSE between the readout membrane at every step and a target membrane.

    The target is snnTorch's ``mse_membrane_loss`` one (``SF.mse_membrane_loss``): the
    correct class's membrane is pulled toward ``on_target`` (default 1.0) and every other
    class's toward ``off_target`` (default 0.0), at every step, with the same targets at
    every step. The loss is the mean over steps, samples and output neurons of
    ``(V[t, b, n] - target[b, n])²`` (snnTorch's sum over steps of each step's MSE,
    divided by T), so it is zero exactly when every step's membrane sits on its target.
    With ``population=P`` every neuron of class c's group (``c·P … c·P + P - 1``) is
    pulled toward class c's target. The objective's own readout is the membrane's mean
    over time (per group), so ``on_target`` must exceed ``off_target``.

    Args:
        on_target: target membrane of the correct class.
        off_target: target membrane of every other class (< ``on_target``).
        population: P neurons per class, or ``None``.
        num_classes: if given, the outputs must have this many classes.
    """

    accepts: ClassVar[tuple[str, ...]] = ANALOG_KINDS

    def __init__(
        self,
        on_target: float = 1.0,
        off_target: float = 0.0,
        population: int | None = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__(population, num_classes)
        for name, value in (("on_target", on_target), ("off_target", off_target)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} must be a number, got {type(value).__name__}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value}")
        if not off_target < on_target:
            raise ValueError(
                f"off_target ({off_target}) must be below on_target ({on_target}): the "
                "correct class is read as the one with the highest membrane"
            )
        self.on_target = float(on_target)
        self.off_target = float(off_target)

    def target_membrane(self, targets: torch.Tensor, C: int, like: torch.Tensor) -> torch.Tensor:
        """Target membrane ``[B, C·P]`` (``[B, C]`` without a population)."""
        on = F.one_hot(targets, C).to(like.dtype)
        target = self.off_target + (self.on_target - self.off_target) * on
        return target if self.population is None else target.repeat_interleave(self.population, 1)

    def forward(self, membrane: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``membrane`` ``[T, B, N]``, ``targets`` ``[B]`` → scalar."""
        C = self._check(membrane, targets, "membrane")
        target = self.target_membrane(targets, C, membrane)
        return F.mse_loss(membrane, target.unsqueeze(0).expand_as(membrane))

    def readout_decoder(self) -> nn.Module:
        """The membrane's mean over time (per group): the highest class."""
        return MembraneDecoder("mean", self.population)

    def extra_repr(self) -> str:
        return f"on_target={self.on_target}, off_target={self.off_target}, {super().extra_repr()}"
