"""Random crop + flip of image batches (data/augment.py), checked against hand results."""

import pytest
import torch

from spikeforge.data.augment import ImageAugment, check_image_dataset, crop
from spikeforge.data.datasets.base import ArrayDataset


def ramp(batch: int = 1, channels: int = 1, size: int = 3) -> torch.Tensor:
    """``[B, C, size, size]`` holding 1, 2, 3, ... (every pixel distinct)."""
    n = batch * channels * size * size
    return torch.arange(1.0, n + 1).view(batch, channels, size, size)


def test_crop_picks_the_window_at_each_images_offset():
    padded = torch.arange(2 * 1 * 4 * 5.0).view(2, 1, 4, 5)
    out = crop(padded, torch.tensor([0, 2]), torch.tensor([1, 3]), 2, 2)
    # by hand: image 0 rows 0-1, cols 1-2; image 1 rows 2-3, cols 3-4
    assert out[0, 0].tolist() == [[1.0, 2.0], [6.0, 7.0]]
    assert out[1, 0].tolist() == [[33.0, 34.0], [38.0, 39.0]]


def test_flip_mirrors_exactly_the_images_the_generator_chose():
    x = ramp(batch=6, channels=2)
    out = ImageAugment(flip=True)(x, torch.Generator().manual_seed(1))
    chosen = torch.rand(6, generator=torch.Generator().manual_seed(1)) < 0.5
    assert 0 < int(chosen.sum()) < 6  # the seed exercises both branches
    for b in range(6):
        want = x[b].flip(-1) if chosen[b] else x[b]
        assert torch.equal(out[b], want), b
    # one hand case: [[1, 2, 3], ...] mirrored is [[3, 2, 1], ...]
    mirrored = ImageAugment(flip=True)(ramp(), _generator_giving_flip(True))
    assert mirrored[0, 0, 0].tolist() == [3.0, 2.0, 1.0]


def _generator_giving_flip(wanted: bool) -> torch.Generator:
    for seed in range(100):
        if bool(torch.rand(1, generator=torch.Generator().manual_seed(seed)) < 0.5) == wanted:
            return torch.Generator().manual_seed(seed)
    raise AssertionError("no seed found")


def test_crop_with_padding_equals_the_hand_computed_zero_padded_windows():
    x = ramp(batch=5, channels=2, size=3)
    p = 1
    out = ImageAugment(crop_padding=p)(x, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    dy = torch.randint(0, 2 * p + 1, (5,), generator=g)
    dx = torch.randint(0, 2 * p + 1, (5,), generator=g)
    for b in range(5):
        for c in range(2):
            for i in range(3):
                for j in range(3):
                    # pixel (i, j) of the crop is pixel (i + dy - p, j + dx - p) of the
                    # image, zero outside it
                    si, sj = i + int(dy[b]) - p, j + int(dx[b]) - p
                    inside = 0 <= si < 3 and 0 <= sj < 3
                    want = float(x[b, c, si, sj]) if inside else 0.0
                    assert float(out[b, c, i, j]) == want, (b, c, i, j)
    assert out.shape == x.shape


def test_shift_by_one_pixel_on_a_tiny_image_by_hand():
    # offsets (dy, dx) = (0, 2) with p = 1: the window starts one row above, one column
    # right of the image: the top row is padding, columns shift left by one
    x = ramp()
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    out = crop(padded, torch.tensor([0]), torch.tensor([2]), 3, 3)
    assert out[0, 0].tolist() == [[0.0, 0.0, 0.0], [2.0, 3.0, 0.0], [5.0, 6.0, 0.0]]


def test_same_generator_same_output_and_different_seeds_differ():
    x = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    augment = ImageAugment(crop_padding=2, flip=True)
    a = augment(x, torch.Generator().manual_seed(11))
    b = augment(x, torch.Generator().manual_seed(11))
    c = augment(x, torch.Generator().manual_seed(12))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(x, torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0)))


def test_inactive_augment_and_bad_settings():
    assert not ImageAugment().active
    assert ImageAugment(flip=True).active and ImageAugment(crop_padding=1).active
    with pytest.raises(ValueError, match="crop_padding must be an integer >= 0, got -1"):
        ImageAugment(crop_padding=-1)
    with pytest.raises(ValueError, match="flip must be true or false, got 'yes'"):
        ImageAugment(flip="yes")
    with pytest.raises(ValueError, match=r"image batches \[B, C, H, W\], got \(2, 9\)"):
        ImageAugment(flip=True)(torch.zeros(2, 9), torch.Generator())


def test_only_static_image_datasets_are_accepted():
    images = ArrayDataset(torch.zeros(2, 1, 8, 8).numpy(), [0, 1], ["a", "b"])
    check_image_dataset(images, "digits")  # [1, 8, 8]: fine
    temporal = ArrayDataset(torch.zeros(2, 5, 3).numpy(), [0, 1], ["a", "b"], temporal=True)
    with pytest.raises(ValueError, match=r"'shd' yields temporal \[T, \.\.\.\] samples"):
        check_image_dataset(temporal, "shd")
    vectors = ArrayDataset(torch.zeros(2, 7).numpy(), [0, 1], ["a", "b"])
    with pytest.raises(ValueError, match=r"'vec' yields \(7,\)"):
        check_image_dataset(vectors, "vec")
