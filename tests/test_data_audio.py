import numpy as np
import pytest

from spikeforge.data.audio import (
    audio_to_spikes,
    delta_encode,
    frame_signal,
    hz_to_mel,
    log_mel_spectrogram,
    mel_filterbank,
    mel_to_hz,
    power_spectrogram,
    threshold_encode,
)

SR = 8000


def tone(freq: float, amp: float = 0.5, seconds: float = 0.5) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(int(SR * seconds)) / SR)


def test_frame_signal_shapes() -> None:
    frames = frame_signal(np.arange(10.0), win=4, hop=3)
    assert frames.shape == (4, 4)
    assert frames[1].tolist() == [3, 4, 5, 6] and frames[3].tolist() == [9, 0, 0, 0]


def test_power_spectrum_parseval() -> None:
    signal = np.random.default_rng(0).normal(size=4000)
    spec = power_spectrogram(signal, SR, win_ms=25, hop_ms=10)
    assert spec.shape == (50, 129)  # ceil(4000 / 80) frames, n_fft 256
    windowed = frame_signal(signal, 200, 80) * np.hanning(202)[1:-1]
    assert np.allclose(spec.sum(axis=1), (windowed**2).sum(axis=1))


def test_filterbank_partition_of_unity() -> None:
    fb = mel_filterbank(32, 256, SR)
    assert fb.shape == (32, 129) and fb.max() <= 1.0 + 1e-12
    freqs = np.arange(129) * SR / 256
    centres = mel_to_hz(np.linspace(0, hz_to_mel(SR / 2), 34))[1:-1]
    inside = (freqs >= centres[0]) & (freqs <= centres[-1])
    assert np.allclose(fb[:, inside].sum(axis=0), 1.0)
    with pytest.raises(ValueError, match="contain no FFT bin"):
        mel_filterbank(128, 64, SR)


def test_tone_lands_in_its_band_and_energy_scales() -> None:
    fb = mel_filterbank(40, 256, SR)
    logmel = log_mel_spectrogram(tone(1000.0), SR, n_bands=40)
    assert logmel.shape == (50, 40) and logmel.dtype == np.float32
    band = int(np.argmax(logmel[10:40].mean(axis=0)))
    assert band == int(np.argmax(fb[:, round(1000 * 256 / SR)]))
    louder = log_mel_spectrogram(tone(1000.0, amp=1.0), SR, n_bands=40)
    # doubling the amplitude multiplies every band energy by 4
    assert np.allclose(louder[10:40, band] - logmel[10:40, band], np.log(4.0), atol=1e-3)


def test_delta_encode() -> None:
    ramp = np.stack([np.linspace(0, 1, 11), np.linspace(1, 0, 11)], axis=1)
    spikes = delta_encode(ramp, threshold=0.2)
    assert spikes.shape == (11, 4)
    assert spikes[:, 0].sum() == 5 and spikes[:, 1].sum() == 0  # up channel of the rise
    assert spikes[:, 3].sum() == 5 and spikes[:, 2].sum() == 0  # down channel of the fall
    with pytest.raises(ValueError, match="threshold must be > 0"):
        delta_encode(ramp, 0.0)


def test_threshold_encode_and_pipeline() -> None:
    feats = np.array([[0.0, 1.0], [2.0, 3.0]])
    assert threshold_encode(feats, 0.5).tolist() == [[0, 0], [1, 1]]
    signal = np.concatenate([np.zeros(2000), tone(600.0, seconds=0.25), np.zeros(2000)])
    for encoding, channels in (("delta", 64), ("threshold", 32), ("none", 32)):
        out = audio_to_spikes(signal, SR, n_bands=32, encoding=encoding)
        assert out.shape == (75, channels)
        assert out.min() >= 0.0 and out.max() <= 1.0
    spikes = audio_to_spikes(signal, SR, encoding="delta")
    assert spikes[:20].sum() == 0 and spikes.sum() > 0  # silence at the start is quiet
