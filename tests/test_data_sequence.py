import pytest
import torch

from spikeforge.data.sequence import image_to_sequence


def test_rows_and_pixels() -> None:
    img = torch.arange(28 * 28, dtype=torch.float32).reshape(1, 28, 28)
    rows = image_to_sequence(img)
    assert rows.shape == (28, 28) and torch.equal(rows[3], img[0, 3])
    pixels = image_to_sequence(img, "pixels")
    assert pixels.shape == (784, 1) and pixels[29, 0] == img[0, 1, 1]


def test_errors() -> None:
    with pytest.raises(ValueError, match="one channel"):
        image_to_sequence(torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="mode must be one of"):
        image_to_sequence(torch.zeros(4, 4), "cols")
