"""``dvs-gesture``: IBM DVS128 Gesture (AEDAT 3.1 recordings cut into labelled gestures)."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import numpy as np
import torch

from ..errors import DataFileError, reading
from ..formats.aedat3 import read_aedat3
from ..paths import locate_any
from ..registry import DATASETS, check_split
from .base import LazyDataset, check_frame_options, event_frames

SENSOR = (128, 128)
GESTURES = [
    "hand_clapping", "right_hand_wave", "left_hand_wave", "right_arm_clockwise",
    "right_arm_counter_clockwise", "left_arm_clockwise", "left_arm_counter_clockwise",
    "arm_roll", "air_drums", "air_guitar", "other_gestures",
]  # fmt: skip
DVS_GESTURE_HINT = (
    "DVS128 Gesture is at https://research.ibm.com/interactive/dvsgesture/; extract "
    "DvsGesture.tar.gz so that DvsGesture/trials_to_train.txt and the userNN_*.aedat "
    "files with their *_labels.csv sit in one folder."
)


def read_trials(path: Path) -> list[str]:
    """Recording file names listed in ``trials_to_{train,test}.txt``."""
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def read_gesture_labels(path: Path) -> list[tuple[int, int, int]]:
    """``(label 0..10, start_us, end_us)`` rows of a ``*_labels.csv`` (classes 1..11).

    Raises:
        DataFileError: naming ``path`` and the row that is not three integers in range.
    """
    rows = []
    with reading(path, "a gesture label CSV"), open(path, newline="") as fh:
        for number, row in enumerate(csv.reader(fh), 1):
            if not row or not row[0].strip().isdigit():
                continue  # header line
            fields = [v.strip() for v in row[:3]]
            if len(fields) != 3 or not all(v.lstrip("-").isdigit() for v in fields):
                raise DataFileError(
                    f"row {number}: expected 'class,startTime_usec,endTime_usec', got {row}"
                )
            label, start, end = (int(v) for v in fields)
            if not 1 <= label <= len(GESTURES):
                raise DataFileError(
                    f"row {number}: gesture class {label} outside 1..{len(GESTURES)}"
                )
            rows.append((label - 1, start, end))
    return rows


@functools.lru_cache(maxsize=2)
def _recording(path: str) -> np.ndarray:
    return read_aedat3(path)[1]


@DATASETS.register("dvs-gesture")
def dvs_gesture(
    split: str = "train",
    data_dir: str | None = None,
    frames: int = 20,
    mode: str = "count",
    window_ms: float | None = None,
    downsample: int = 1,
) -> LazyDataset:
    """DVS128 Gesture: 11 classes, each labelled segment of each recording one sample.

    Files: ``DvsGesture/trials_to_{train,test}.txt``, ``userNN_<light>.aedat`` and
    ``userNN_<light>_labels.csv`` (optionally under ``dvs_gesture/``).
    Samples ``[T, 2, 128 // downsample, 128 // downsample]``; frame options as in
    ``nmnist-small``.
    """
    check_split(split)
    check_frame_options(frames, mode, window_ms, downsample)
    listing = f"trials_to_{split}.txt"
    alternatives = [[f"{b}DvsGesture/{listing}"] for b in ("", "dvs_gesture/")]
    root, k = locate_any("dvs-gesture", alternatives, data_dir=data_dir, hint=DVS_GESTURE_HINT)
    folder = (root / alternatives[k][0]).parent
    samples: list[tuple[Path, int, int, int]] = []
    for name in read_trials(folder / listing):
        recording = folder / name
        for label, start, end in read_gesture_labels(
            folder / name.replace(".aedat", "_labels.csv")
        ):
            samples.append((recording, label, start, end))

    def load(index: int) -> torch.Tensor:
        recording, _, start, end = samples[index]
        events = _recording(str(recording))
        events = events[(events["t"] >= start) & (events["t"] < end)]
        return event_frames(events, *SENSOR, frames, mode, window_ms, downsample)

    return LazyDataset(
        load,
        np.asarray([s[1] for s in samples]),
        GESTURES,
        temporal=True,
        cache=False,
        files=[s[0] for s in samples],
    )
