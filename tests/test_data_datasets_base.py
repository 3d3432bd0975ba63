import numpy as np
import pytest
import torch

from spikeforge.data.datasets.base import (
    ArrayDataset,
    LazyDataset,
    check_frame_options,
    event_frames,
)
from spikeforge.data.errors import DataFileError
from spikeforge.data.events import make_events


def test_array_dataset_scales_and_transforms() -> None:
    ds = ArrayDataset(np.full((2, 1, 2, 2), 255, np.uint8), [1, 0], ["a", "b"], scale=1 / 255)
    x, y = ds[0]
    assert x.dtype == torch.float32 and torch.all(x == 1.0) and y == 1 and len(ds) == 2
    doubled = ArrayDataset(np.ones((1, 3)), [0], ["a"], transform=lambda t: 2 * t)
    assert doubled[0][0].tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="2 inputs but 1 labels"):
        ArrayDataset(np.zeros((2, 3)), [0], ["a"])


def test_lazy_dataset_caches() -> None:
    calls: list[int] = []

    def load(i: int) -> torch.Tensor:
        calls.append(i)
        return torch.tensor([float(i)])

    ds = LazyDataset(load, np.array([4, 5, 6]), ["x"] * 7)
    x, y = ds[1]
    assert x.tolist() == [1.0] and y == 5
    ds[1]
    ds[-1]
    assert calls == [1, 2]
    with pytest.raises(IndexError):
        ds[3]
    uncached = LazyDataset(load, np.array([0]), ["x"], cache=False)
    uncached[0]
    uncached[0]
    assert calls[-2:] == [0, 0]


def test_event_frames_modes_and_downsample() -> None:
    ev = make_events([0, 127, 64], [0, 127, 3], [0, 1, 1], [0, 5_000, 25_000])
    assert event_frames(ev, 128, 128, 2).shape == (2, 2, 128, 128)
    small = event_frames(ev, 128, 128, 3, "window", window_ms=10.0, downsample=4)
    assert small.shape == (3, 2, 32, 32) and small.sum() == 3
    assert small[0, 1, 31, 31] == 1 and small[2, 1, 0, 16] == 1
    with pytest.raises(ValueError, match="window_ms"):
        check_frame_options(3, "window")
    with pytest.raises(ValueError, match="downsample"):
        check_frame_options(3, "count", downsample=0)
    with pytest.raises(ValueError, match="frames must be an integer"):
        check_frame_options(0, "count")


def test_lazy_dataset_names_the_file_of_a_sample_that_fails(tmp_path) -> None:
    files = [tmp_path / "a.bin", tmp_path / "b.bin"]

    def load(i: int) -> torch.Tensor:
        if i == 1:
            raise ValueError("x 200 outside the 34x34 sensor")
        return torch.zeros(1)

    ds = LazyDataset(load, np.array([0, 1]), ["a", "b"], files=files)
    assert ds[0][0].tolist() == [0.0]
    with pytest.raises(DataFileError, match=r"b\.bin: sample 1 cannot be decoded \(ValueError: x"):
        ds[1]
    with pytest.raises(DataFileError) as info:
        ds.read(1)  # the uncached read names it too
    assert info.value.path == files[1] and isinstance(info.value.__cause__, ValueError)
    with pytest.raises(ValueError, match="^x 200"):  # no files known: the error as it was
        LazyDataset(load, np.array([0, 1]), ["a", "b"])[1]

    def missing(i: int) -> torch.Tensor:
        return torch.from_numpy(np.fromfile(files[i]))

    with pytest.raises(FileNotFoundError, match=r"a\.bin"):  # already named: unchanged
        LazyDataset(missing, np.array([0]), ["a"], files=files[:1])[0]
