"""Training-progress schedules: module settings that follow the fraction of training done.

A module subscribes by defining ``on_training_progress(progress: float)`` (the
:class:`ProgressScheduled` protocol; no base class or import needed). The engine's
trainer finds every such submodule of the model once (:func:`find_scheduled`) and calls
it (:func:`set_progress`):

- before every optimiser step, with the position of the step about to run,
  ``progress = (epoch + batch / steps_per_epoch) / epochs`` (:func:`training_progress`);
- at the end of each epoch, before evaluation and the checkpoint, with
  ``(epoch + 1) / epochs`` — so a schedule that ends at 1.0 is complete in the final
  model.

A subscriber must set its values as a pure function of ``progress`` (never by counting
calls) and keep them in buffers: the trainer recomputes them from the position before
each step, which is what makes a resumed run continue a schedule bit-exactly.

A subscriber may also define ``schedule_values() -> dict[str, float]``, the values it has
reached; the trainer logs them per epoch under ``"schedules"`` as
``"<module name>.<key>"`` (:func:`schedule_values`).

This is a bottom-layer helper: it imports nothing from spikeforge, so neurons, layers
and methods can all subscribe while only the engine drives it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class ProgressScheduled(Protocol):
    """A module whose settings follow the fraction of training done."""

    def on_training_progress(self, progress: float) -> None:
        """Set this module's scheduled values for ``progress`` ∈ [0, 1]."""


def training_progress(epoch: int, batch: int, steps_per_epoch: int, epochs: int) -> float:
    """``(epoch + batch / steps_per_epoch) / epochs``, clipped to [0, 1]: the fraction of
    training done before the step ``batch`` (0-based) of epoch ``epoch`` (0-based)."""
    if steps_per_epoch < 1 or epochs < 1:
        raise ValueError(
            f"steps_per_epoch and epochs must be >= 1, got {steps_per_epoch} and {epochs}"
        )
    return min(1.0, max(0.0, (epoch + batch / steps_per_epoch) / epochs))


def check_ramp(value: Any, name: str) -> tuple[float, float]:
    """A ``[start, end]`` pair of training fractions, ``0 <= start <= end <= 1``."""
    ok = (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    )
    if ok:
        start, end = float(value[0]), float(value[1])
        ok = math.isfinite(start) and math.isfinite(end) and 0.0 <= start <= end <= 1.0
    if not ok:
        raise ValueError(
            f"{name} must be [start, end], fractions of training with "
            f"0 <= start <= end <= 1, got {value!r}"
        )
    return start, end


def linear_ramp(progress: float, start: float, end: float) -> float:
    """0 up to ``start``, 1 from ``end`` on, linear in between (a step at ``start`` when
    ``start == end``)."""
    if progress >= end:
        return 1.0
    if progress <= start:
        return 0.0
    return (progress - start) / (end - start)


def find_scheduled(module: Any) -> list[tuple[str, Any]]:
    """``(name, submodule)`` for every submodule of ``module`` (itself included, name
    ``""``) that has a callable ``on_training_progress``, in ``named_modules`` order."""
    return [
        (name, m)
        for name, m in module.named_modules()
        if callable(getattr(m, "on_training_progress", None))
    ]


def set_progress(scheduled: Iterable[tuple[str, Any]], progress: float) -> None:
    """Call ``on_training_progress(progress)`` on each subscriber."""
    for _, m in scheduled:
        m.on_training_progress(progress)


def schedule_values(scheduled: Iterable[tuple[str, Any]]) -> dict[str, float]:
    """``{"<module name>.<key>": value}`` from each subscriber's ``schedule_values()``
    (subscribers without one contribute nothing)."""
    values: dict[str, float] = {}
    for name, m in scheduled:
        report = getattr(m, "schedule_values", None)
        if callable(report):
            for key, value in report().items():
                values[f"{name}.{key}" if name else key] = float(value)
    return values


def schedules_finished(scheduled: Iterable[tuple[str, Any]]) -> bool:
    """Whether every subscriber has reached its final setting (a subscriber says so with
    ``schedule_finished()``; one without it counts as finished). Until then the network
    is not yet the one training is heading for: the trainer picks no best checkpoint."""
    for _, m in scheduled:
        finished = getattr(m, "schedule_finished", None)
        if callable(finished) and not finished():
            return False
    return True
