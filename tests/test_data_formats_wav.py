import wave
from pathlib import Path

import numpy as np
import pytest

from spikeforge.data.errors import DataFileError
from spikeforge.data.formats.wav import read_wav
from spikeforge.data.paths import find_shared_data

SHARED = find_shared_data()


@pytest.fixture(scope="module")
def shared() -> Path:
    if SHARED is None:
        pytest.skip("shared data folder (shared/data above the repo) not found")
    return SHARED


def test_fsdd_files_are_8khz_mono(shared: Path) -> None:
    files = sorted((shared / "fsdd/recordings").glob("*.wav"))
    assert len(files) == 3000
    for path in files[::100]:
        signal, rate = read_wav(path)
        assert rate == 8000 and signal.ndim == 1 and signal.dtype == np.float32
        assert 0.1 < signal.shape[0] / rate < 2.5
        assert signal.min() >= -1.0 and signal.max() < 1.0


def test_synthetic_int16_stereo(tmp_path: Path) -> None:
    data = np.array([[0, 16384], [-32768, 32767]], dtype="<i2")
    with wave.open(str(tmp_path / "a.wav"), "wb") as wf:
        wf.setnchannels(2)
        wf.setsampwidth(2)
        wf.setframerate(16000)
        wf.writeframes(data.tobytes())
    signal, rate = read_wav(tmp_path / "a.wav")
    assert rate == 16000
    assert np.allclose(signal, [0.25, (-1.0 + 32767 / 32768) / 2])


def test_truncated_samples_are_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "3_theo_12.wav"
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(8000)
        wf.writeframes(np.zeros(100, dtype="<i2").tobytes())
    path.write_bytes(path.read_bytes()[:-51])  # the header still says 100 frames
    with pytest.raises(DataFileError, match=r"3_theo_12\.wav: truncated: .* 100 frames") as info:
        read_wav(path)
    assert info.value.path == path
    path.write_bytes(b"RIFF")
    with pytest.raises(DataFileError, match=r"3_theo_12\.wav: cannot be read as WAV"):
        read_wav(path)
