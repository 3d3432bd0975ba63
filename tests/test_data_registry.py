import pytest

import spikeforge.data as data
from spikeforge.data.registry import DATASETS, load_dataset

EXPECTED = {
    "digits", "mnist-small", "mnist", "fashion-mnist", "seq-mnist-small", "cifar10-small",
    "cifar10", "cifar100", "nmnist-small", "nmnist", "fsdd", "dvs-gesture", "shd",
    "cifar10-dvs",
}  # fmt: skip


def test_all_datasets_registered() -> None:
    assert set(DATASETS.names()) >= EXPECTED
    assert data.DATASETS is DATASETS


def test_bad_split_and_name() -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        load_dataset("digits", "val")
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        load_dataset("nope")


def test_create_by_keyword() -> None:
    ds = DATASETS.create("digits", split="test", data_dir=None)
    assert len(ds) == 360
