"""Figure specs drawn as SVG (analysis/figures.py): positions, counts, PNG cells."""

import base64
import math
import re
import struct
import xml.etree.ElementTree as ET
import zlib

import pytest

from spikeforge.analysis.figures import (
    cell_rgb,
    colormap,
    heatmap_grid,
    log_xy_chart,
    png_bytes,
    render_figure,
)

NS = "{http://www.w3.org/2000/svg}"


def decode_png(data: bytes) -> list[list[tuple[int, ...]]]:
    """``[H][W][3]`` of an 8-bit RGB PNG whose rows all use filter 0 (ours)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    width, height, depth, color, *_ = header
    assert (depth, color) == (8, 2)
    raw, stride = zlib.decompress(idat), 3 * width + 1
    rows = []
    for y in range(height):
        line = raw[y * stride : (y + 1) * stride]
        assert line[0] == 0
        rows.append([tuple(line[1 + 3 * x : 4 + 3 * x]) for x in range(width)])
    return rows


def test_png_round_trips_and_the_colormap_runs_dark_to_yellow():
    rgb = [[(0, 0, 0), (255, 10, 20)], [(1, 2, 3), (250, 251, 252)]]
    assert decode_png(png_bytes(rgb)) == rgb
    assert colormap(0.0) == (68, 1, 84) and colormap(1.0) == (253, 231, 37)
    assert colormap(0.5) == (33, 145, 140)  # the middle stop
    assert colormap(float("nan")) == colormap(0.0) and colormap(7) == colormap(1.0)
    with pytest.raises(ValueError, match="non-empty"):
        png_bytes([])


def test_map_cells_scale_by_their_maximum_and_images_by_255():
    rgb = cell_rgb({"map": [[0.0, 0.5], [1.0, 2.0]]})
    assert rgb[0][0] == colormap(0.0) and rgb[1][1] == colormap(1.0)
    assert rgb[1][0] == colormap(0.5)  # 1.0 of a maximum 2.0
    grey = cell_rgb({"image": [[[0.0, 1.0]]]})
    assert grey == [[(0, 0, 0), (255, 255, 255)]]
    colour = cell_rgb({"image": [[[1.0]], [[0.5]], [[0.0]]]})
    assert colour == [[(255, 128, 0)]]
    with pytest.raises(ValueError, match="needs 'map' or 'image'"):
        cell_rgb({"pixels": []})


def spec() -> dict:
    return {
        "kind": "log_xy",
        "name": "acc_t",
        "title": "t",
        "base": 2,
        "curves": [{"label": "converted", "x": [2, 4, 8, 16], "y": [0.2, 0.5, 0.8, 0.9]}],
        "points": [
            {"label": "LaSNN", "x": 4, "y": 0.85, "yerr": 0.02},
            {"label": "KD", "x": 4, "y": 0.7},
            {"label": "missing", "x": None, "y": 0.1},  # no energy: not drawn
        ],
        "hlines": [{"label": "teacher", "y": 0.95}],
    }


def test_log_xy_places_points_on_a_log2_axis():
    svg = ET.fromstring(log_xy_chart(spec()))
    points = svg.findall(f".//{NS}path[@class='point']")
    assert [(p.get("data-label"), p.get("data-x")) for p in points] == [("LaSNN", "4"), ("KD", "4")]
    curve = svg.findall(f".//{NS}polyline[@class='curve']")
    assert len(curve) == 1 and len(curve[0].get("points").split()) == 4
    marks = svg.findall(f".//{NS}circle[@class='curve-point']")
    xs = {float(m.get("data-x")): float(m.get("cx")) for m in marks}
    # log axis: equal ratios are equal distances (2 -> 4 -> 8 -> 16)
    assert xs[4] - xs[2] == pytest.approx(xs[8] - xs[4], abs=0.11)
    assert xs[16] - xs[8] == pytest.approx(xs[4] - xs[2], abs=0.11)
    # the student point sits at the curve's x for T = 4
    lasnn_x = float(re.match(r"M([\d.]+),", points[0].get("d")).group(1)) + 4
    assert lasnn_x == pytest.approx(xs[4], abs=0.11)
    assert len(svg.findall(f".//{NS}line[@class='errorbar']")) == 1  # only LaSNN has one
    hline = svg.findall(f".//{NS}line[@class='hline']")
    assert [h.get("data-label") for h in hline] == ["teacher"]
    ticks = [t.text for t in svg.iter(f"{NS}text")]
    assert {"2", "4", "8", "16"} <= set(ticks) and "time steps" not in ticks
    # higher accuracy is drawn higher (smaller y)
    ys = {float(m.get("data-y")): float(m.get("cy")) for m in marks}
    assert ys[0.9] < ys[0.2]


def test_log10_axis_spans_decades_and_bad_specs_are_refused():
    s = {"kind": "log_xy", "name": "e", "points": [{"label": "a", "x": 0.03, "y": 0.5},
                                                   {"label": "b", "x": 2.0, "y": 0.9}]}  # fmt: skip
    svg = render_figure(s)
    for tick in ("0.01", "0.1", "1", "10"):
        assert f">{tick}</text>" in svg
    with pytest.raises(ValueError, match="base must be 2 or 10"):
        log_xy_chart({**s, "base": 3})
    with pytest.raises(ValueError, match="no finite positive point"):
        log_xy_chart({"kind": "log_xy", "name": "x", "points": []})
    with pytest.raises(ValueError, match="figure kind must be one of"):
        render_figure({"kind": "pie"})


def test_heatmap_grid_embeds_one_png_per_cell_with_the_cell_colours():
    rows = [
        {"label": "img 0", "cells": [{"image": [[[0.0, 1.0], [1.0, 0.0]]]}, {"map": [[0, 1]]}]},
        {"label": "img 1", "cells": [{"image": [[[0.5, 0.5], [0.5, 0.5]]]}, {"map": [[3, 0]]}]},
    ]
    svg = ET.fromstring(heatmap_grid({"name": "h", "columns": ["input", "map"], "rows": rows}))
    images = svg.findall(f".//{NS}image[@class='heatmap']")
    assert [(i.get("data-row"), i.get("data-col"), i.get("data-kind")) for i in images] == [
        ("0", "0", "image"), ("0", "1", "map"), ("1", "0", "image"), ("1", "1", "map")
    ]  # fmt: skip
    href = images[3].get("href")
    assert href.startswith("data:image/png;base64,")
    assert decode_png(base64.b64decode(href.split(",", 1)[1])) == [[colormap(1), colormap(0)]]
    with pytest.raises(ValueError, match="row 0 has 1 cells for 2 columns"):
        heatmap_grid({"columns": ["a", "b"], "rows": [{"cells": [{"map": [[1]]}]}]})


def test_bars_and_lines_kinds_draw_their_series():
    bars = render_figure(
        {
            "kind": "bars",
            "name": "b",
            "labels": ["l1", "l2"],
            "series": {"kd": [0.1, 0.2], "lasnn": [0.3, None]},
        }
    )
    titled = re.findall(r'fill="(#[0-9a-f]+)"><title>(l\d): ([\d.na]+)</title>', bars)
    assert sorted(t[1:] for t in titled) == [("l1", "0.1"), ("l1", "0.3"), ("l2", "0.2")]
    lines = render_figure(
        {
            "kind": "lines",
            "name": "c",
            "panels": [
                {"title": "loss", "series": {"a": [[1, 2], [1.0, 0.5]]}},
                {"title": "acc", "series": {"a": [[1, 2], [0.5, math.nan]]}},
            ],
        }
    )
    assert lines.count("<svg") == 2


def _boxes(anchors, offsets, widths, height):
    return [
        (x + dx, y + dy - height / 2, x + dx + w, y + dy + height / 2)
        for (x, y), (dx, dy), w in zip(anchors, offsets, widths, strict=True)
    ]


def test_a_label_goes_right_of_its_marker_unless_a_marker_or_label_is_there():
    from spikeforge.analysis.figures import _overlap, place_labels

    # a lone point: right of its marker, centred on it
    assert place_labels([(100.0, 100.0)], [6.0], 9.0, 4.0) == [(6.0, 0.0)]
    # a neighbour's marker just right of the first point: its label goes left
    anchors = [(100.0, 100.0), (110.0, 100.0)]
    offsets = place_labels(anchors, [6.0, 6.0], 9.0, 4.0)
    assert offsets[0] == (-12.0, 0.0) and offsets[1] == (6.0, 0.0)
    # nine students at one T within a few pixels: no label covers another or a marker
    anchors = [(200.0, 100.0 + 3.0 * k) for k in range(9)]
    widths = [6.0] * 9
    boxes = _boxes(anchors, place_labels(anchors, widths, 9.0, 4.0), widths, 9.0)
    markers = [(x - 4, y - 4, x + 4, y + 4) for x, y in anchors]
    for k, box in enumerate(boxes):
        assert all(_overlap(box, other) == 0 for other in markers)
        assert all(_overlap(box, other) == 0 for other in boxes[:k] + boxes[k + 1 :])


def test_svg_numbers_stand_clear_of_every_marker():
    from spikeforge.analysis.figures import log_xy_chart

    # students at T=4 within a point or two of accuracy, and one far from the rest
    close = [{"label": c, "x": 4, "y": 0.40 - 0.002 * k} for k, c in enumerate("abcdef")]
    close.append({"label": "g", "x": 2, "y": 0.30})
    svg = log_xy_chart({"points": close, "base": 2})
    labels = [
        (float(m.group(1)), float(m.group(2)))
        for m in re.finditer(r'class="point-label" x="([\d.]+)" y="([\d.]+)"', svg)
    ]
    centres = [
        (float(m.group(1)) + 4, float(m.group(2)))
        for m in re.finditer(r'class="point"[^>]* d="M([\d.]+),([\d.]+)', svg)
    ]
    assert len(labels) == len(centres) == 7
    for lx, ly in labels:  # text baseline = centre + 3; a digit ~5.5 x 9 px
        box = (lx, ly - 7.5, lx + 5.5, ly + 1.5)
        for cx, cy in centres:
            assert not (box[0] < cx + 4 and cx - 4 < box[2] and box[1] < cy + 4 and cy - 4 < box[3])
    assert labels[6] == (centres[6][0] + 6, centres[6][1] + 3)  # the lone one: to the right


def test_log_xy_legend_keeps_long_labels_whole():
    from spikeforge.analysis.figures import log_xy_chart

    label = "spiking VGG-small with BN + LaSNN (activation attention), beta = 0.5"
    svg = log_xy_chart({"points": [{"label": label, "x": 4, "y": 0.5}], "base": 2})
    assert f">1: {label}</text>" in svg
    width = float(re.search(r'<svg[^>]* width="([\d.]+)"', svg).group(1))
    assert width > 760  # widened for the label, which is longer than the default legend
