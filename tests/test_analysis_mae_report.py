"""``analysis/mae_report.py``: the pretraining report's picture (original / masked /
reconstruction tiles), its PNG data URI and the HTML page."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from spikeforge.analysis.mae_report import (
    HEADER_PX,
    comparison_image,
    png_data_uri,
    render_mae_report,
)


def test_tiles_land_where_they_belong_enlarged():
    a = torch.zeros(2, 1, 4, 4)
    b = torch.ones(2, 1, 4, 4)
    c = torch.rand(2, 3, 4, 4)
    c[:, :, 0, 0] = torch.tensor([1.0, 0.0, 0.5])
    image = comparison_image([a.expand(2, 3, 4, 4), b.expand(2, 3, 4, 4), c], tile=8, gap=1)
    pixels = np.asarray(image)
    # 3 columns of 8-px tiles (x2) with 1-px gaps; 2 rows under the label band
    assert pixels.shape == (HEADER_PX + 2 * 8 + 3, 3 * 8 + 4, 3)
    top = HEADER_PX + 1
    assert (pixels[top : top + 8, 1:9] == 0).all()  # column 1: black
    assert (pixels[top : top + 8, 10:18] == 255).all()  # column 2: white
    assert pixels[top, 19].tolist() == [255, 0, 128]  # column 3, pixel (0, 0), enlarged
    assert pixels[top + 1, 20].tolist() == [255, 0, 128]
    assert (pixels[top + 8, :] == 255).all()  # the gap between rows is white
    assert (pixels[:HEADER_PX] < 255).any()  # the labels are drawn


def test_grey_images_and_bad_input():
    grey = comparison_image([torch.full((1, 1, 8, 8), 0.5)] * 3, tile=8)
    assert np.asarray(grey)[HEADER_PX + 2, 2].tolist() == [128, 128, 128]
    with pytest.raises(ValueError, match=r"\[N, C, H, W\] with C 1 or 3"):
        comparison_image([torch.rand(1, 2, 4, 4)] * 3)
    with pytest.raises(ValueError, match="every column must have shape"):
        comparison_image([torch.rand(1, 1, 4, 4), torch.rand(2, 1, 4, 4), torch.rand(1, 1, 4, 4)])
    with pytest.raises(ValueError, match="2 columns but 3 labels"):
        comparison_image([torch.rand(1, 1, 4, 4)] * 2)


def test_the_data_uri_decodes_to_the_same_png():
    image = comparison_image([torch.rand(2, 3, 4, 4)] * 3, tile=4)
    uri = png_data_uri(image)
    assert uri.startswith("data:image/png;base64,")
    back = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert np.array_equal(np.asarray(back), np.asarray(image))


def test_the_page_holds_the_picture_the_curve_and_the_settings():
    history = [{"epoch": 1, "train_loss": 0.9, "test_loss": 0.8},
               {"epoch": 2, "train_loss": 0.7, "test_loss": 0.75}]  # fmt: skip
    html = render_mae_report("pre <run>", {"mask ratio": 0.75}, history, "data:image/png;base64,AA")
    assert (
        '<img alt="original / masked input / reconstruction" src="data:image/png;base64,AA">'
        in html
    )
    assert "<svg" in html and "reconstruction loss" in html
    assert "<td>mask ratio</td><td>0.75</td>" in html
    assert "pre &lt;run&gt;" in html  # escaped
    assert "<script" not in html
    empty = render_mae_report("x", {}, [], None)
    assert "no pictures" in empty and "no loss recorded" in empty
