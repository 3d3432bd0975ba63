r"""Threshold calibration recipes: ``λ_l`` from the ReLU activations on calibration data.

A recipe is a small object (registered in ``CALIBRATIONS``) that makes one
:class:`Observer` per neuron site; the observer sees the site's ReLU activations
``[N, C, ...]`` batch by batch and returns ``λ`` — a scalar (per layer) or ``[C]``
(per channel, channel = dim 1). Recipes:

- ``max``: ``λ = max a`` (Diehl et al., 2015): no activation of the calibration data
  saturates, but one outlier lowers every other neuron's rate;
- ``percentile``: ``λ = p``-th percentile of ``a`` (Rueckauer et al., 2017, p = 99.9 or
  99.99): robust to outliers, saturates the top ``(100 - p)`` % of activations.

A site that never activates (``λ = 0``) gets ``λ = 1``: its neurons never fire anyway.
Percentiles are computed over a bounded, seeded random sample of each site's
activations (``max_values`` per layer or per channel), exact when the data are smaller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from ..._registry import Registry
from ..._validation import check_positive

CALIBRATIONS: Registry[Callable[..., Recipe]] = Registry("calibration recipe")


def _channels_first(a: torch.Tensor) -> torch.Tensor:
    """``[N, C, ...]`` -> ``[C, N·...]``."""
    return a.transpose(0, 1).reshape(a.shape[1], -1)


class Observer:
    """Accumulates one site's activations; :meth:`threshold` gives its ``λ``."""

    def __call__(self, activation: torch.Tensor) -> None:
        raise NotImplementedError

    def threshold(self) -> torch.Tensor:
        raise NotImplementedError


class Recipe:
    """Makes one :class:`Observer` per neuron site.

    Args:
        per_channel: one ``λ`` per channel instead of per layer.
    """

    name = ""

    def __init__(self, per_channel: bool = False) -> None:
        self.per_channel = bool(per_channel)

    def observer(self) -> Observer:
        raise NotImplementedError

    def __repr__(self) -> str:
        extra = ", per_channel" if self.per_channel else ""
        return f"{type(self).__name__}({self._describe()}{extra})"

    def _describe(self) -> str:
        return ""


def _positive(scale: torch.Tensor) -> torch.Tensor:
    """``λ <= 0`` (a site that never activates) becomes 1; NaN stays NaN, so that a NaN
    activation cannot pass for a silent site (the pipeline refuses it by name)."""
    return torch.where((scale > 0) | scale.isnan(), scale, torch.ones_like(scale))


class _MaxObserver(Observer):
    def __init__(self, per_channel: bool) -> None:
        self.per_channel = per_channel
        self.value: torch.Tensor | None = None

    def __call__(self, activation: torch.Tensor) -> None:
        a = activation.detach().float()
        current = _channels_first(a).amax(1) if self.per_channel else a.max()
        self.value = current if self.value is None else torch.maximum(self.value, current)

    def threshold(self) -> torch.Tensor:
        if self.value is None:
            raise RuntimeError("no activations observed: the calibration data never reached it")
        return _positive(self.value)


@CALIBRATIONS.register("max")
class MaxRecipe(Recipe):
    """``λ`` = the largest activation (per layer or per channel)."""

    name = "max"

    def observer(self) -> Observer:
        return _MaxObserver(self.per_channel)


class _PercentileObserver(Observer):
    def __init__(self, percentile: float, per_channel: bool, max_values: int, seed: int) -> None:
        self.q = percentile / 100.0
        self.per_channel = per_channel
        self.max_values = max_values
        self.generator = torch.Generator().manual_seed(seed)
        self.samples: list[torch.Tensor] = []
        self.kept = 0

    def __call__(self, activation: torch.Tensor) -> None:
        a = activation.detach().float().cpu()
        values = _channels_first(a) if self.per_channel else a.reshape(1, -1)
        budget = max(1, self.max_values // 8)  # keep several batches' worth
        if values.shape[1] > budget:
            pick = torch.randperm(values.shape[1], generator=self.generator)[:budget]
            values = values[:, pick]
        self.samples.append(values)
        self.kept += values.shape[1]
        if self.kept > 2 * self.max_values:  # thin what is held, uniformly
            merged = torch.cat(self.samples, 1)
            pick = torch.randperm(merged.shape[1], generator=self.generator)[: self.max_values]
            self.samples, self.kept = [merged[:, pick]], self.max_values

    def threshold(self) -> torch.Tensor:
        if not self.samples:
            raise RuntimeError("no activations observed: the calibration data never reached it")
        values = torch.cat(self.samples, 1).sort(1).values  # [C or 1, M]
        index = min(values.shape[1] - 1, max(0, round(self.q * (values.shape[1] - 1))))
        scale = values[:, index]
        return _positive(scale if self.per_channel else scale[0])


@CALIBRATIONS.register("percentile")
class PercentileRecipe(Recipe):
    """``λ`` = the ``percentile``-th percentile of the activations (e.g. 99.9).

    Args:
        percentile: in (0, 100].
        per_channel: one ``λ`` per channel.
        max_values: activations kept per site (per channel if ``per_channel``).
        seed: seed of the subsampling.
    """

    name = "percentile"

    def __init__(
        self,
        percentile: float = 99.9,
        per_channel: bool = False,
        max_values: int = 1_000_000,
        seed: int = 0,
    ) -> None:
        super().__init__(per_channel)
        if not isinstance(percentile, int | float) or not 0 < percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
        check_positive(max_values, "max_values")
        self.percentile = float(percentile)
        self.max_values = int(max_values)
        self.seed = seed

    def observer(self) -> Observer:
        per_site = self.max_values if not self.per_channel else max(1000, self.max_values // 64)
        return _PercentileObserver(self.percentile, self.per_channel, per_site, self.seed)

    def _describe(self) -> str:
        return f"percentile={self.percentile}"


def make_recipe(recipe: str | Recipe, **options: object) -> Recipe:
    """A :class:`Recipe` from a registered name and its options, or pass one through."""
    if isinstance(recipe, Recipe):
        if options:
            raise TypeError(f"options {sorted(options)} given with a ready recipe {recipe!r}")
        return recipe
    if not isinstance(recipe, str):
        raise TypeError(f"calibration must be a recipe name or Recipe, got {type(recipe).__name__}")
    return CALIBRATIONS.create(recipe, **options)


def batches_of(data: torch.Tensor | Iterable[torch.Tensor], batch_size: int = 256):
    """Yield ANN input batches ``[N, ...]`` from a tensor or an iterable of batches.

    Iterable items may be ``(inputs, labels)`` pairs; only the inputs are used.
    """
    items = data.split(batch_size) if isinstance(data, torch.Tensor) else data
    for item in items:
        batch = item[0] if isinstance(item, tuple | list) else item
        if len(batch):
            yield batch
