"""PCM WAV files via the standard library (e.g. the Free Spoken Digit Dataset)."""

from __future__ import annotations

import os
import wave

import numpy as np

from ..errors import DataFileError, check_not_empty, reading

_PCM = {1: np.dtype("u1"), 2: np.dtype("<i2"), 4: np.dtype("<i4")}


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a PCM WAV file.

    Returns:
        ``(signal, sample_rate)``: float32 ``[N]`` in ``[-1, 1)`` (channels averaged)
        and the rate in Hz.

    Raises:
        DataFileError: naming ``path``: empty, not a WAV file, fewer sample bytes than
            the header declares (truncated), or an unsupported sample width.
    """
    with reading(path, "WAV"):
        check_not_empty(path, "WAV")
        with wave.open(str(path), "rb") as wf:
            width, channels, rate = wf.getsampwidth(), wf.getnchannels(), wf.getframerate()
            declared = wf.getnframes()
            frames = wf.readframes(declared)
        if width not in _PCM:
            raise DataFileError(f"{8 * width}-bit samples unsupported (expected 8, 16 or 32)")
        expected = declared * width * channels
        if len(frames) != expected:
            raise DataFileError(
                f"truncated: the header declares {declared} frames ({expected} bytes), "
                f"found {len(frames)} bytes"
            )
    data = np.frombuffer(frames, dtype=_PCM[width]).astype(np.float32)
    if width == 1:
        data = data - 128.0
    data /= float(1 << (8 * width - 1))
    data = data.reshape(-1, channels).mean(axis=1) if channels > 1 else data
    return data.astype(np.float32, copy=False), rate
