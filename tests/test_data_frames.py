import numpy as np
import pytest

from spikeforge.data.events import make_events
from spikeforge.data.formats.nmnist_bin import read_nmnist_bin
from spikeforge.data.frames import events_to_frames, events_to_frames_window, slice_indices
from spikeforge.data.paths import find_shared_data

SHARED = find_shared_data()


@pytest.fixture(scope="module")
def events() -> np.ndarray:
    if SHARED is None:
        pytest.skip("shared data folder (shared/data above the repo) not found")
    return read_nmnist_bin(SHARED / "event_format_samples/sample_nmnist.bin")


@pytest.mark.parametrize("mode", ["count", "duration"])
@pytest.mark.parametrize("frames", [1, 7, 30])
def test_sums_equal_event_counts(events: np.ndarray, mode: str, frames: int) -> None:
    out = events_to_frames(events, 34, 34, frames, mode)
    assert out.shape == (frames, 2, 34, 34) and out.dtype == np.float32
    assert out.sum() == events.shape[0]
    assert out[:, 1].sum() == events["p"].sum()  # channel 1 = ON


def test_count_slices_are_equal(events: np.ndarray) -> None:
    per_frame = events_to_frames(events, 34, 34, 10, "count").sum(axis=(1, 2, 3))
    assert per_frame.max() - per_frame.min() <= 1


def test_duration_slices_cover_equal_time(events: np.ndarray) -> None:
    idx = slice_indices(events, 4, "duration")
    t = events["t"] - events["t"][0]
    span = int(t[-1]) + 1
    for k in range(4):
        chunk = t[idx == k]
        assert chunk.min() >= k * span / 4 and chunk.max() < (k + 1) * span / 4


def test_window_mode(events: np.ndarray) -> None:
    full = events_to_frames_window(events, 34, 34, window_ms=10.0)
    span_ms = (events["t"][-1] - events["t"][0]) / 1000.0
    assert full.shape[0] == int(span_ms // 10.0) + 1
    assert full.sum() == events.shape[0]
    fixed = events_to_frames_window(events, 34, 34, window_ms=10.0, frames=5)
    assert fixed.shape == (5, 2, 34, 34)
    assert np.array_equal(fixed, full[:5])
    padded = events_to_frames_window(events, 34, 34, window_ms=100.0, frames=10)
    assert padded.sum() == events.shape[0] and padded[-1].sum() == 0


def test_pixel_placement_and_errors() -> None:
    ev = make_events([2, 0], [1, 3], [1, 0], [0, 10])
    out = events_to_frames(ev, 4, 3, 2, "duration")
    assert out[0, 1, 1, 2] == 1 and out[1, 0, 3, 0] == 1 and out.sum() == 2
    with pytest.raises(ValueError, match="outside the 2x3"):
        events_to_frames(ev, 2, 3, 2)
    with pytest.raises(ValueError, match="mode must be one of"):
        events_to_frames(ev, 4, 3, 2, "bogus")
    with pytest.raises(ValueError, match="frames must be >= 1"):
        events_to_frames(ev, 4, 3, 0)
    with pytest.raises(ValueError, match="window_ms must be > 0"):
        events_to_frames_window(ev, 4, 3, 0.0)
    assert events_to_frames(ev[:0], 4, 3, 3).sum() == 0
