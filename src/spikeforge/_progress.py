"""Progress reporting for long loops: a tqdm bar on a terminal, plain lines elsewhere.

:func:`progress` wraps an iterable (``for batch in progress(batches, "train"): ...``) or
counts by hand (``with progress(460, "train") as bar: ... bar.update(1)``). Where it
writes decides how:

- a terminal (``stream.isatty()``): a live tqdm bar with rate and ETA;
- anything else (log files, batch schedulers, pytest capture), where a redrawn bar
  would leave thousands of ``\\r`` fragments: a plain line at most every ``every_s``
  seconds, and one when the loop ends, e.g.
  ``train: 120/460 batches (26%), 14.2 batch/s, ETA 24 s, loss 0.4123``;
- ``enabled=False``: nothing at all.

This module is the bottom layer: it imports only the standard library and tqdm.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, Generic, TypeVar

from tqdm import tqdm

__all__ = ["Progress", "progress"]

T = TypeVar("T")


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):  # closed or detached stream
        return False


def _plural(unit: str) -> str:
    return unit + ("es" if unit.endswith(("s", "sh", "ch", "x", "z")) else "s")


def _duration(seconds: float) -> str:
    """``"24 s"``, ``"3 min 05 s"``, ``"2 h 07 min"``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) and value != 0 else str(value)
    return str(value)


class Progress(Generic[T]):
    """One progress display; build it with :func:`progress`.

    Iterate over it (when it wraps an iterable), or call :meth:`update` by hand; in both
    cases :meth:`close` (or leaving the ``with`` block, or the end of the iteration)
    writes the final state.
    """

    def __init__(
        self,
        iterable: Iterable[T] | None,
        total: int | None,
        desc: str,
        *,
        enabled: bool = True,
        unit: str = "batch",
        stream: IO[str] | None = None,
        every_s: float = 30.0,
        initial: int = 0,
        leave: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if every_s < 0:
            raise ValueError(f"every_s must be >= 0, got {every_s}")
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.unit = unit
        self.every_s = float(every_s)
        self.n = self.initial = int(initial)
        self.enabled = enabled
        self.stream: IO[str] = sys.stderr if stream is None else stream
        self._clock = clock
        self._start = self._last = clock()
        self._postfix: dict[str, Any] = {}
        self._closed = not enabled
        self._bar: tqdm | None = None
        if enabled and _is_terminal(self.stream):
            self._bar = tqdm(
                total=total,
                desc=desc,
                unit=unit,
                file=self.stream,
                initial=self.initial,
                leave=leave,
                dynamic_ncols=True,
            )

    # -- counting ------------------------------------------------------------------
    def __iter__(self) -> Iterator[T]:
        if self.iterable is None:
            raise TypeError("this progress display counts a total; call update() instead")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units done (prints a plain line when one is due)."""
        if self._closed:
            return
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = self._clock()
        if now - self._last >= self.every_s:
            self._last = now
            self._write(now, final=False)

    def set_postfix(self, postfix: dict[str, Any] | None = None, **values: Any) -> None:
        """Values shown after the counts, e.g. ``set_postfix(loss=0.41)``; they replace the
        previous ones and appear with the next bar refresh or line."""
        self._postfix = {**(postfix or {}), **values}
        if self._bar is not None:
            self._bar.set_postfix({k: _value(v) for k, v in self._postfix.items()}, refresh=False)

    def close(self) -> None:
        """Finish: the bar's final state, or the final plain line (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        else:
            self._write(self._clock(), final=True)

    def __enter__(self) -> Progress[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plain lines ---------------------------------------------------------------
    def line(self, now: float | None = None, final: bool = False) -> str:
        """The plain-text state, e.g. ``train: 120/460 batches (26%), 14.2 batch/s, ETA 24 s``
        (``final``: the elapsed time instead of the ETA)."""
        now = self._clock() if now is None else now
        if self.total:
            parts = [
                f"{self.n}/{self.total} {_plural(self.unit)} ({100 * self.n / self.total:.0f}%)"
            ]
        else:
            parts = [f"{self.n} {self.unit if self.n == 1 else _plural(self.unit)}"]
        elapsed = now - self._start
        done = self.n - self.initial
        rate = done / elapsed if elapsed > 0 and done > 0 else None
        if rate is not None:
            parts.append(
                f"{rate:.1f} {self.unit}/s" if rate >= 1 else f"{1 / rate:.1f} s/{self.unit}"
            )
        if final:
            parts.append(_duration(elapsed))
        elif rate is not None and self.total:
            parts.append(f"ETA {_duration(max(0, self.total - self.n) / rate)}")
        parts += [f"{k} {_value(v)}" for k, v in self._postfix.items()]
        text = ", ".join(parts)
        return f"{self.desc}: {text}" if self.desc else text

    def _write(self, now: float, final: bool) -> None:
        with contextlib.suppress(OSError, ValueError):  # a broken stream must not stop work
            print(self.line(now, final), file=self.stream, flush=True)


def progress(
    iterable_or_total: Iterable[T] | int | None,
    desc: str = "",
    *,
    total: int | None = None,
    enabled: bool = True,
    unit: str = "batch",
    stream: IO[str] | None = None,
    every_s: float = 30.0,
    initial: int = 0,
    leave: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> Progress[T]:
    """Report progress over an iterable, or over ``total`` units counted with ``update``.

    Args:
        iterable_or_total: what to iterate over (its ``len`` is the total when it has
            one), or the number of units when counting by hand; ``None``: unknown total.
        desc: the label in front (``"epoch 3/10"``).
        total: overrides the total taken from ``len(iterable)``.
        enabled: ``False``: silent (iteration still works).
        unit: what is counted, singular (``"batch"`` prints ``"batches"``, ``"batch/s"``).
        stream: where to write (default ``sys.stderr``, looked up at call time); a
            terminal gets a tqdm bar, anything else plain lines.
        every_s: the least time between two plain lines (``0``: a line per update).
        initial: units already done (a resumed epoch); the rate counts only new ones.
        leave: keep the tqdm bar on screen when done (``False``: erase it).
        clock: the time source of the plain lines (seconds; injectable for tests).

    Returns:
        a :class:`Progress`: iterate over it, or use it as a context manager and call
        ``update(n)`` / ``set_postfix(...)``.
    """
    if iterable_or_total is None or isinstance(iterable_or_total, int):
        iterable = None
        count = iterable_or_total
    else:
        iterable = iterable_or_total
        count = len(iterable) if hasattr(iterable, "__len__") else None  # type: ignore[arg-type]
    return Progress(
        iterable,
        count if total is None else total,
        desc,
        enabled=enabled,
        unit=unit,
        stream=stream,
        every_s=every_s,
        initial=initial,
        leave=leave,
        clock=clock,
    )
