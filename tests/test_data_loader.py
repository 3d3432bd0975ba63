import pytest
import torch

from spikeforge.data.datasets.base import ArrayDataset
from spikeforge.data.loader import make_loader, sample_indices, time_major_collate


def test_static_batch_is_batch_first() -> None:
    batch = [(torch.full((1, 8, 8), float(i)), i) for i in range(3)]
    x, y = time_major_collate(batch)
    assert x.shape == (3, 1, 8, 8) and y.dtype == torch.int64 and y.tolist() == [0, 1, 2]


def test_temporal_batch_is_time_first() -> None:
    batch = [(torch.randn(5, 2, 4, 4), i) for i in range(3)]
    x, _ = time_major_collate(batch, temporal=True)
    assert x.shape == (5, 3, 2, 4, 4)
    assert torch.equal(x[:, 1], batch[1][0])
    x2, _ = time_major_collate([(torch.randn(7, 16), 0), (torch.randn(7, 16), 1)])
    assert x2.shape == (7, 2, 16)  # [T, C] guessed temporal


def test_collate_errors() -> None:
    with pytest.raises(ValueError, match="one shape"):
        time_major_collate([(torch.zeros(3, 2), 0), (torch.zeros(4, 2), 1)])
    with pytest.raises(ValueError, match="empty"):
        time_major_collate([])
    with pytest.raises(ValueError, match="at least 2 dims"):
        time_major_collate([(torch.zeros(3), 0)], temporal=True)


def test_make_loader_uses_flag_and_seed() -> None:
    data = torch.arange(10 * 6 * 3, dtype=torch.float32).reshape(10, 6, 3).numpy()
    ds = ArrayDataset(data, list(range(10)), [str(i) for i in range(10)], temporal=True)
    batches = list(make_loader(ds, batch_size=4, shuffle=True, seed=3))
    assert [b[0].shape for b in batches] == [(6, 4, 3), (6, 4, 3), (6, 2, 3)]
    again = list(make_loader(ds, batch_size=4, shuffle=True, seed=3))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(batches, again, strict=True))
    static = next(iter(make_loader(ds, batch_size=4, temporal=False)))[0]
    assert static.shape == (4, 6, 3)
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(ds, 0)


def test_sample_indices_spread_over_a_class_sorted_dataset() -> None:
    labels = torch.arange(10).repeat_interleave(100)  # sorted by class, as image folders
    picked = sample_indices(len(labels), 50, seed=0)
    assert picked.tolist() == sorted(set(picked.tolist())) and len(picked) == 50
    assert int(picked.min()) >= 0 and int(picked.max()) < 1000
    assert len(labels[picked].unique()) >= 8  # the first 50 would be class 0 only
    assert torch.equal(picked, sample_indices(len(labels), 50, seed=0))
    assert not torch.equal(picked, sample_indices(len(labels), 50, seed=1))
    assert torch.equal(sample_indices(7, 20), torch.arange(7))  # more than there are: all
    with pytest.raises(ValueError, match="count must be >= 0"):
        sample_indices(5, -1)
