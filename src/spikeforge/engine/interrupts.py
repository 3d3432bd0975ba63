"""Ctrl-C and SIGTERM during training: a request to stop at the next safe point.

Python raises ``KeyboardInterrupt`` wherever the interpreter happens to be when SIGINT
arrives, and an exception raised inside a finalizer or a ``__del__`` is printed and
dropped ("Exception ignored in ...") — the fused CPU kernels hand pooled buffers back
from a ``weakref.finalize``, so a Ctrl-C landing there was swallowed and training ran
on. While :func:`deferred_interrupts` is active the first SIGINT/SIGTERM only sets a
flag: nothing is raised, so nothing can be swallowed, and the trainer stops at its next
safe point (after an optimiser step, between evaluation batches), writes ``last.pt`` and
raises :class:`TrainingInterruptedError`. A second Ctrl-C raises ``KeyboardInterrupt`` at once
(for a run that does not reach a safe point).

Nested contexts share the outermost request: a pipeline stage defers signals from the
moment it builds its trainer until its result is written (a signal landing between a
stage's last epoch and the next stage's first, where a stage's objects are collected and
their finalizers run, was lost: the pipeline ran on), and the trainer inside it stops at
its next safe point on a signal that came before its own ``fit`` began.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_active: list[StopRequest] = []  # the outermost request while a context is active


class StopRequest:
    """Set by the signal handler; read by the trainer at its safe points."""

    def __init__(self) -> None:
        self.signal: int | None = None

    @property
    def requested(self) -> bool:
        return self.signal is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signal).name if self.signal is not None else ""


class TrainingInterruptedError(Exception):
    """Training stopped on a signal at a safe point; ``last.pt`` holds where it stopped."""

    def __init__(self, run_dir: Path, epoch: int, step: int, signal_name: str) -> None:
        self.run_dir, self.epoch, self.step, self.signal_name = run_dir, epoch, step, signal_name
        super().__init__(
            f"interrupted ({signal_name}) at epoch {epoch}, step {step}; "
            f"checkpoint {run_dir / 'last.pt'}"
        )


@contextmanager
def deferred_interrupts() -> Iterator[StopRequest]:
    """Turn SIGINT/SIGTERM into a :class:`StopRequest` for the duration (main thread
    only; elsewhere signals cannot be handled and the request never fires)."""
    if _active:  # nested: the outer context's handlers and request serve
        yield _active[0]
        return
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if request.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: do not wait for a safe point
        request.signal = signum

    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    _active.append(request)
    try:
        yield request
    finally:
        _active.clear()
        for sig, old in previous.items():
            signal.signal(sig, old)
