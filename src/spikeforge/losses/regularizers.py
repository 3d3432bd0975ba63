r"""Activity regularizers on a layer's spikes ``[T, B, ...]`` → scalar.

- :class:`L1Rate` (population level): ``λ · mean_b Σ_i r_{b,i}``, the L1 norm of the
  per-sample rates ``r_{b,i} = mean_t S[t, b, i]``; pushes the whole layer towards
  sparse activity.
- :class:`RateBounds` (neuron level): with each neuron's rate ``r_i = mean_{t,b} S``,
  ``λ · mean_i [ relu(r_i - upper)² + relu(lower - r_i)² ]``; zero while every neuron
  stays inside ``[lower, upper]``, so it only silences runaway neurons and revives dead
  ones.

Spikes are non-negative (0/1, or graded); rates are in spikes per step (``[0, 1]`` for
0/1 spikes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._registry import Registry
from .._validation import check_choice, check_positive, check_sequence

REGULARIZERS: Registry[type[nn.Module]] = Registry("regularizer")

L1_REDUCTIONS = ("sum", "mean")


def _check_spikes(spikes: object) -> torch.Tensor:
    x = check_sequence(spikes, "spikes")
    if not x.is_floating_point():
        raise TypeError(f"spikes must be a floating-point tensor [T, B, ...], got {x.dtype}")
    return x


@REGULARIZERS.register("l1_rate")
class L1Rate(nn.Module):
    """Population-level L1 penalty on firing rates.

    Args:
        weight: λ >= 0.
        reduction: over neurons, ``"sum"`` (the L1 norm of the rate vector) or ``"mean"``
            (independent of layer width); always averaged over the batch.
    """

    def __init__(self, weight: float = 1.0, reduction: str = "sum") -> None:
        super().__init__()
        check_positive(weight, "weight", allow_zero=True)
        self.weight = weight
        self.reduction = check_choice(reduction, "reduction", L1_REDUCTIONS)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        """``spikes`` ``[T, B, ...]`` → scalar."""
        _check_spikes(spikes)
        # No abs(): spikes are non-negative, and abs' zero gradient at S = 0 would hide
        # the penalty from every currently silent step (surrogates still need it there).
        rates = spikes.mean(0).reshape(spikes.shape[1], -1)  # [B, neurons]
        per_sample = rates.sum(1) if self.reduction == "sum" else rates.mean(1)
        return self.weight * per_sample.mean()

    def extra_repr(self) -> str:
        return f"weight={self.weight}, reduction={self.reduction!r}"


@REGULARIZERS.register("rate_bounds")
class RateBounds(nn.Module):
    """Neuron-level squared-hinge penalty keeping each neuron's rate in ``[lower, upper]``.

    Args:
        lower: minimum rate per neuron (spikes per step), ``0 <= lower <= upper``.
        upper: maximum rate per neuron, ``<= 1``.
        weight: λ >= 0.
    """

    def __init__(self, lower: float = 0.0, upper: float = 1.0, weight: float = 1.0) -> None:
        super().__init__()
        if not 0.0 <= lower <= upper <= 1.0:
            raise ValueError(
                f"rate bounds must satisfy 0 <= lower <= upper <= 1 (spikes per step), got "
                f"lower={lower}, upper={upper}"
            )
        check_positive(weight, "weight", allow_zero=True)
        self.lower = lower
        self.upper = upper
        self.weight = weight

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        """``spikes`` ``[T, B, ...]`` → scalar."""
        _check_spikes(spikes)
        # No abs(): its zero gradient at S = 0 would leave silent neurons below ``lower``
        # with no gradient at all, the very neurons the lower bound exists to revive.
        rates = spikes.mean(dim=(0, 1))  # one rate per neuron, [...]
        penalty = F.relu(rates - self.upper) ** 2 + F.relu(self.lower - rates) ** 2
        return self.weight * penalty.mean()

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}, weight={self.weight}"
