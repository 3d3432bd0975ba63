"""Dataset containers shared by the registered datasets.

Every dataset yields ``(x, label)``: ``x`` a float32 tensor, ``label`` an ``int``.
Attributes: ``classes`` (names in label order), ``temporal`` (``x`` is ``[T, ...]``)
and ``labels`` (int64 ``[N]``). Decoded samples are cached in memory only.

A :class:`LazyDataset` that knows its samples' ``files`` names the file in any error
raised while decoding a sample (a :class:`~spikeforge.data.errors.DataFileError`), at
the sample's first read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import as_data_file_error
from ..frames import events_to_frames, events_to_frames_window

EVENT_FRAME_MODES = ("count", "duration", "window")


class ArrayDataset(Dataset):
    """Samples held in one array ``[N, ...]``, scaled to float on access.

    Args:
        inputs: ``[N, ...]`` array (e.g. uint8 images ``[N, 1, 28, 28]``).
        labels: int ``[N]``.
        classes: class names in label order.
        scale: factor applied after the float conversion (``1 / 255`` for pixels).
        transform: optional ``tensor -> tensor`` applied to each sample.
        temporal: whether samples are ``[T, ...]``.
    """

    def __init__(
        self,
        inputs: np.ndarray,
        labels: np.ndarray,
        classes: Sequence[str],
        scale: float = 1.0,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        temporal: bool = False,
    ) -> None:
        if len(inputs) != len(labels):
            raise ValueError(f"{len(inputs)} inputs but {len(labels)} labels; expected equal")
        self.inputs = inputs
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = list(classes)
        self.scale = scale
        self.transform = transform
        self.temporal = temporal

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = torch.from_numpy(np.asarray(self.inputs[index], dtype=np.float32) * self.scale)
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self.labels[index])


class LazyDataset(Dataset):
    """Samples decoded on first access by ``load(index)`` and then kept in memory.

    Args:
        load: ``index -> float tensor`` for one sample.
        labels: int ``[N]``.
        classes: class names in label order.
        temporal: whether samples are ``[T, ...]``.
        cache: keep decoded samples (memory only) for later epochs.
        files: the source file of each sample, if any (kept as ``files``).
    """

    def __init__(
        self,
        load: Callable[[int], torch.Tensor],
        labels: np.ndarray,
        classes: Sequence[str],
        temporal: bool = False,
        cache: bool = True,
        files: Sequence[Path] | None = None,
    ) -> None:
        self.load = load
        self.files = list(files) if files is not None else []
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = list(classes)
        self.temporal = temporal
        self.cache = cache
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        n = len(self.labels)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for a dataset of {n} samples")
        index = index % n
        x = self._cache.get(index)
        if x is None:
            x = self.read(index)
            if self.cache:
                self._cache[index] = x
        return x, int(self.labels[index])

    def read(self, index: int) -> torch.Tensor:
        """Decode sample ``index`` (``0 <= index < len``) without the cache.

        Raises:
            DataFileError: when decoding fails and the dataset knows the sample's file:
                the message names that file and what went wrong.
        """
        if index >= len(self.files):
            return self.load(index)
        try:
            return self.load(index)
        except Exception as error:
            wrapped = as_data_file_error(
                error, self.files[index], f"sample {index} cannot be decoded"
            )
            if wrapped is error:
                raise
            raise wrapped from error


def check_frame_options(
    frames: int, mode: str, window_ms: float | None = None, downsample: int = 1
) -> None:
    """Validate frame options up front (before any file is decoded)."""
    if mode not in EVENT_FRAME_MODES:
        raise ValueError(f"mode must be one of {EVENT_FRAME_MODES}, got {mode!r}")
    if not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be an integer >= 1, got {frames!r}")
    if mode == "window" and (window_ms is None or not window_ms > 0):
        raise ValueError(f"mode='window' needs window_ms > 0 (ms per frame), got {window_ms}")
    if not isinstance(downsample, int) or downsample < 1:
        raise ValueError(f"downsample must be an integer >= 1, got {downsample!r}")


def event_frames(
    events: np.ndarray,
    height: int,
    width: int,
    frames: int,
    mode: str = "count",
    window_ms: float | None = None,
    downsample: int = 1,
) -> torch.Tensor:
    """Events -> float32 frames ``[T, 2, H // downsample, W // downsample]``.

    ``mode`` is ``"count"`` / ``"duration"`` (``frames`` slices of the recording) or
    ``"window"`` (``frames`` slices of ``window_ms`` each from the first event).
    """
    check_frame_options(frames, mode, window_ms, downsample)
    if downsample > 1:
        events = events.copy()
        events["x"] //= downsample
        events["y"] //= downsample
        height, width = -(-height // downsample), -(-width // downsample)
    if mode == "window":
        window = float(window_ms)  # type: ignore[arg-type]  # checked above
        out = events_to_frames_window(events, height, width, window, frames=frames)
    else:
        out = events_to_frames(events, height, width, frames, mode)
    return torch.from_numpy(out)
