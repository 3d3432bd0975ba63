"""Event streams -> frame tensors ``[T, 2, H, W]`` (channel 0 = OFF, 1 = ON).

Three slicing rules:

* ``"count"``: ``T`` slices holding (nearly) equal numbers of events;
* ``"duration"``: ``T`` slices of equal duration spanning the first to last event;
* :func:`events_to_frames_window`: fixed ``window_ms`` per frame (``T`` follows from
  the recording length, or is fixed, dropping later events and zero-padding).

Frames hold event counts (float32), so the sum of every frame equals the number of
events that fell into a kept frame.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_choice
from .events import check_events

FRAME_MODES = ("count", "duration")


def _check_sensor(events: np.ndarray, height: int, width: int) -> None:
    if height <= 0 or width <= 0:
        raise ValueError(f"sensor height and width must be > 0, got {height}x{width}")
    if events.size and (int(events["x"].max()) >= width or int(events["y"].max()) >= height):
        raise ValueError(
            f"events fall outside the {height}x{width} (HxW) sensor: max x = "
            f"{int(events['x'].max())} (expected < {width}), max y = "
            f"{int(events['y'].max())} (expected < {height})"
        )
    if events.size and int(events["p"].max()) > 1:
        raise ValueError(f"polarity must be 0 or 1, got max {int(events['p'].max())}")


def _accumulate(
    events: np.ndarray, slot: np.ndarray, frames: int, height: int, width: int
) -> np.ndarray:
    keep = (slot >= 0) & (slot < frames)
    ev, slot = events[keep], slot[keep]
    flat = ((slot * 2 + ev["p"].astype(np.int64)) * height + ev["y"]) * width + ev["x"]
    counts = np.bincount(flat, minlength=frames * 2 * height * width)
    return counts.astype(np.float32).reshape(frames, 2, height, width)


def slice_indices(events: np.ndarray, frames: int, mode: str = "count") -> np.ndarray:
    """Frame index ``[N]`` (in ``0..frames-1``) of each event under ``mode``.

    Events must be sorted by time for ``"count"`` to mean equal-count *time* slices.
    """
    check_choice(mode, "mode", FRAME_MODES)
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    n = events.shape[0]
    if mode == "count":
        return (np.arange(n, dtype=np.int64) * frames) // max(n, 1)
    t = events["t"].astype(np.int64)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    t0, span = int(t.min()), int(t.max() - t.min()) + 1
    return ((t - t0) * frames) // span


def events_to_frames(
    events: np.ndarray, height: int, width: int, frames: int, mode: str = "count"
) -> np.ndarray:
    """Integrate events into a fixed number of frames.

    Args:
        events: ``[N]`` structured events (x, y, p, t), sorted by time.
        height, width: sensor size (N-MNIST: 34, 34).
        frames: number of frames ``T``.
        mode: ``"count"`` (equal event counts) or ``"duration"`` (equal time spans).

    Returns:
        float32 ``[T, 2, height, width]`` event counts; its sum is ``N``.
    """
    check_events(events)
    _check_sensor(events, height, width)
    return _accumulate(events, slice_indices(events, frames, mode), frames, height, width)


def events_to_frames_window(
    events: np.ndarray,
    height: int,
    width: int,
    window_ms: float,
    frames: int | None = None,
    start_us: int | None = None,
) -> np.ndarray:
    """Integrate events into frames of a fixed duration each.

    Args:
        events: ``[N]`` structured events with ``t`` in µs.
        height, width: sensor size.
        window_ms: duration of each frame in milliseconds.
        frames: fixed ``T``: later events are dropped and missing frames are zeros.
            ``None`` makes ``T = ceil(span / window)`` so every event is kept.
        start_us: time of the start of frame 0 (default: the first event's time).

    Returns:
        float32 ``[T, 2, height, width]``.
    """
    check_events(events)
    _check_sensor(events, height, width)
    if not window_ms > 0:
        raise ValueError(f"window_ms must be > 0, got {window_ms}")
    window_us = window_ms * 1000.0
    t = events["t"].astype(np.int64)
    t0 = (int(t.min()) if t.size else 0) if start_us is None else int(start_us)
    slot = np.floor((t - t0) / window_us).astype(np.int64)
    if frames is None:
        frames = int(slot.max()) + 1 if slot.size and int(slot.max()) >= 0 else 1
    elif frames < 1:
        raise ValueError(f"frames must be >= 1 or None, got {frames}")
    return _accumulate(events, slot, frames, height, width)
