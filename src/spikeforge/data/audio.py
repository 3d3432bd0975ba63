"""Audio -> spikes: a mel-spaced log filterbank (own numpy implementation) and
spike encoders (send-on-delta and level threshold) giving ``[T, channels]``."""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_choice


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: ``2595 * log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def frame_signal(signal: np.ndarray, win: int, hop: int) -> np.ndarray:
    """Cut ``[N]`` into ``[T, win]`` frames, ``T = ceil(N / hop)`` (zero-padded at the end).

    Frame ``i`` covers samples ``[i * hop, i * hop + win)``.
    """
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"signal must be 1-D [N], got shape {signal.shape}")
    if win < 1 or hop < 1:
        raise ValueError(f"win and hop must be >= 1 samples, got win={win}, hop={hop}")
    frames = max(1, math.ceil(signal.shape[0] / hop))
    padded = np.zeros((frames - 1) * hop + win, dtype=np.float64)
    padded[: min(signal.shape[0], padded.shape[0])] = signal[: padded.shape[0]]
    idx = np.arange(frames)[:, None] * hop + np.arange(win)[None, :]
    return padded[idx]


def power_spectrogram(
    signal: np.ndarray,
    sample_rate: int,
    win_ms: float = 25.0,
    hop_ms: float = 10.0,
    n_fft: int | None = None,
) -> np.ndarray:
    """One-sided power spectrum of Hann-windowed frames, ``[T, n_fft // 2 + 1]``.

    Scaled so each frame's bins sum to the energy ``sum(frame * window) ** 2`` of the
    windowed frame (Parseval), with ``n_fft`` the next power of two >= the window.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be > 0, got {sample_rate}")
    win = max(1, round(sample_rate * win_ms / 1000.0))
    hop = max(1, round(sample_rate * hop_ms / 1000.0))
    n_fft = n_fft or 1 << (win - 1).bit_length()
    if n_fft < win:
        raise ValueError(f"n_fft must be >= the window ({win} samples), got {n_fft}")
    frames = frame_signal(signal, win, hop) * np.hanning(win + 2)[1:-1]
    spec = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2 / n_fft
    spec[:, 1 : (n_fft + 1) // 2] *= 2.0  # fold the negative frequencies in
    return spec


def mel_filterbank(
    n_bands: int,
    n_fft: int,
    sample_rate: int,
    f_min: float = 0.0,
    f_max: float | None = None,
) -> np.ndarray:
    """Triangular mel-spaced filters ``[n_bands, n_fft // 2 + 1]`` (peak 1).

    Neighbouring triangles overlap so that between the first and last centre the
    weights of every frequency bin sum to 1.
    """
    f_max = sample_rate / 2.0 if f_max is None else f_max
    if n_bands < 1:
        raise ValueError(f"n_bands must be >= 1, got {n_bands}")
    if not 0.0 <= f_min < f_max <= sample_rate / 2.0:
        raise ValueError(
            f"need 0 <= f_min < f_max <= sample_rate / 2 = {sample_rate / 2}, "
            f"got f_min={f_min}, f_max={f_max}"
        )
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_bands + 2))
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lo) / (mid - lo)
    falling = (hi - freqs[None, :]) / (hi - mid)
    weights = np.clip(np.minimum(rising, falling), 0.0, None)
    empty = np.flatnonzero(weights.sum(axis=1) == 0)
    if empty.size:
        raise ValueError(
            f"mel bands {empty.tolist()} contain no FFT bin: use fewer bands "
            f"(got {n_bands}) or a larger n_fft (got {n_fft})"
        )
    return weights


def log_mel_spectrogram(
    signal: np.ndarray,
    sample_rate: int,
    n_bands: int = 32,
    win_ms: float = 25.0,
    hop_ms: float = 10.0,
    n_fft: int | None = None,
    f_min: float = 0.0,
    f_max: float | None = None,
    eps: float = 1e-10,
) -> np.ndarray:
    """Log mel-band energies ``[T, n_bands]`` (float32), ``T = ceil(N / hop)``."""
    win = max(1, round(sample_rate * win_ms / 1000.0))
    n_fft = n_fft or 1 << (win - 1).bit_length()
    spec = power_spectrogram(signal, sample_rate, win_ms, hop_ms, n_fft)
    fb = mel_filterbank(n_bands, n_fft, sample_rate, f_min, f_max)
    return np.log(spec @ fb.T + eps).astype(np.float32)


def normalize_minmax(features: np.ndarray) -> np.ndarray:
    """Scale a whole ``[T, C]`` array to ``[0, 1]`` (a constant array maps to zeros)."""
    lo, hi = float(features.min()), float(features.max())
    if hi <= lo:
        return np.zeros_like(features, dtype=np.float32)
    return ((features - lo) / (hi - lo)).astype(np.float32)


def delta_encode(features: np.ndarray, threshold: float) -> np.ndarray:
    """Send-on-delta spikes ``[T, 2 * C]`` from features ``[T, C]``.

    Each channel keeps a reference level, starting at its first value. When the value
    rises (falls) by at least ``threshold`` from it, an "up" spike in channel ``c``
    (a "down" spike in channel ``C + c``) fires and the reference moves by whole
    multiples of ``threshold`` toward the value.
    """
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be [T, C], got shape {features.shape}")
    steps, channels = features.shape
    spikes = np.zeros((steps, 2 * channels), dtype=np.float32)
    ref = features[0].copy()
    for t in range(1, steps):
        diff = features[t] - ref
        jumps = np.trunc(diff / threshold * (1.0 + 1e-9))  # tolerate rounding at k * threshold
        spikes[t, :channels] = jumps >= 1
        spikes[t, channels:] = jumps <= -1
        ref += jumps * threshold
    return spikes


def threshold_encode(features: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Level-threshold spikes ``[T, C]``.

    A spike is 1 where the feature, scaled to ``[0, 1]`` over the whole sample, is
    ``>= threshold``.
    """
    return (normalize_minmax(np.asarray(features)) >= threshold).astype(np.float32)


AUDIO_ENCODINGS = ("delta", "threshold", "none")


def audio_to_spikes(
    signal: np.ndarray,
    sample_rate: int,
    n_bands: int = 32,
    hop_ms: float = 10.0,
    win_ms: float = 25.0,
    encoding: str = "delta",
    threshold: float | None = None,
) -> np.ndarray:
    """Signal ``[N]`` -> ``[T, C]`` spikes (or scaled log-mel features for ``"none"``).

    ``"delta"`` gives ``C = 2 * n_bands`` (up then down channels, default threshold
    0.1 of the per-sample ``[0, 1]`` range); ``"threshold"`` gives ``C = n_bands``
    (default threshold 0.5); ``"none"`` returns the ``[0, 1]``-scaled log-mel energies.
    """
    check_choice(encoding, "encoding", AUDIO_ENCODINGS)
    feats = normalize_minmax(
        log_mel_spectrogram(signal, sample_rate, n_bands, win_ms=win_ms, hop_ms=hop_ms)
    )
    if encoding == "delta":
        return delta_encode(feats, 0.1 if threshold is None else threshold)
    if encoding == "threshold":
        return threshold_encode(feats, 0.5 if threshold is None else threshold)
    return feats
