"""``digits``: scikit-learn's bundled 8x8 handwritten digits (no download)."""

from __future__ import annotations

from .._optional import optional_import
from ..registry import DATASETS, check_split
from .base import ArrayDataset


@DATASETS.register("digits")
def digits(
    split: str = "train",
    data_dir: str | None = None,
    test_size: float = 0.2,
    seed: int = 0,
) -> ArrayDataset:
    """1,797 8x8 digits, stratified ``1 - test_size`` / ``test_size`` split.

    ``data_dir`` is ignored (the data ships with scikit-learn). Samples are
    ``[1, 8, 8]`` in ``[0, 1]``; labels 0..9.
    """
    check_split(split)
    sk_datasets = optional_import("sklearn.datasets", "the digits dataset", "scikit-learn")
    selection = optional_import("sklearn.model_selection", "the digits dataset", "scikit-learn")
    bunch = sk_datasets.load_digits()
    images = bunch.images.reshape(-1, 1, 8, 8)
    x_tr, x_te, y_tr, y_te = selection.train_test_split(
        images, bunch.target, test_size=test_size, random_state=seed, stratify=bunch.target
    )
    x, y = (x_tr, y_tr) if split == "train" else (x_te, y_te)
    return ArrayDataset(x, y, [str(d) for d in range(10)], scale=1.0 / 16.0)
