"""``fsdd``: the Free Spoken Digit Dataset as spike trains ``[T, C]``."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import torch

from ..._validation import check_choice
from ..audio import AUDIO_ENCODINGS, audio_to_spikes
from ..formats.wav import read_wav
from ..paths import locate
from ..registry import DATASETS, check_split
from .base import LazyDataset

FSDD_DIR = "fsdd/recordings"
FSDD_HINT = (
    "FSDD is at https://github.com/Jakobovski/free-spoken-digit-dataset; copy its "
    "recordings/ folder to fsdd/recordings/."
)
_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")
TEST_INDICES = range(5)  # the official split: recording index 0-4 test, 5-49 train


def parse_fsdd_name(name: str) -> tuple[int, str, int]:
    """``"3_theo_12.wav"`` -> ``(3, "theo", 12)`` (digit, speaker, index)."""
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"FSDD file names look like '<digit>_<speaker>_<index>.wav', got {name!r}")
    return int(match.group(1)), match.group(2), int(match.group(3))


def fsdd_split(index: int) -> str:
    """Official split of a recording index: 0-4 -> ``"test"``, otherwise ``"train"``."""
    return "test" if index in TEST_INDICES else "train"


def list_fsdd(folder: Path, split: str) -> list[tuple[Path, int, str]]:
    """``(path, digit, speaker)`` of every recording of ``split``, sorted by name."""
    out = []
    for path in sorted(folder.glob("*.wav")):
        digit, speaker, index = parse_fsdd_name(path.name)
        if fsdd_split(index) == split:
            out.append((path, digit, speaker))
    return out


@DATASETS.register("fsdd")
def fsdd(
    split: str = "train",
    data_dir: str | None = None,
    n_bands: int = 32,
    hop_ms: float = 10.0,
    win_ms: float = 25.0,
    duration_s: float = 1.0,
    encoding: str = "delta",
    threshold: float | None = None,
) -> LazyDataset:
    """3,000 spoken digits (8 kHz), 2,700 train / 300 test, as spikes ``[T, C]``.

    Each recording is zero-padded or cut to ``duration_s``; then a log-mel filterbank
    (``n_bands`` bands, ``hop_ms`` hop) is encoded (see
    :func:`spikeforge.data.audio.audio_to_spikes`): ``T = ceil(duration_s / hop)``,
    ``C = 2 * n_bands`` for ``"delta"``, ``n_bands`` for ``"threshold"`` / ``"none"``.
    """
    check_split(split)
    check_choice(encoding, "encoding", AUDIO_ENCODINGS)
    if not duration_s > 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    root = locate("fsdd", [FSDD_DIR], data_dir=data_dir, hint=FSDD_HINT)
    items = list_fsdd(root / FSDD_DIR, split)

    def load(index: int) -> torch.Tensor:
        signal, rate = read_wav(items[index][0])
        fixed = np.zeros(math.ceil(duration_s * rate), dtype=np.float32)
        n = min(fixed.shape[0], signal.shape[0])
        fixed[:n] = signal[:n]
        spikes = audio_to_spikes(fixed, rate, n_bands, hop_ms, win_ms, encoding, threshold)
        return torch.from_numpy(spikes)

    dataset = LazyDataset(
        load,
        np.asarray([d for _, d, _ in items]),
        [str(d) for d in range(10)],
        temporal=True,
        files=[p for p, _, _ in items],
    )
    dataset.speakers = [s for _, _, s in items]  # speaker of each recording
    return dataset
