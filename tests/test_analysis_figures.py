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


def test_numbers_of_points_at_one_t_stand_side_by_side_only_where_they_would_overlap():
    from spikeforge.analysis.figures import label_columns, log_xy_chart

    points = [
        {"label": "a", "x": 4, "y": 0.40},
        {"label": "b", "x": 4, "y": 0.34},
        {"label": "c", "x": 2, "y": 0.30},
        {"label": "d", "x": 4, "y": 0.3615},
        {"label": "e", "x": 4, "y": 0.60},  # far above all: its number stays by its marker
        {"label": "f", "x": 4, "y": 0.345},  # next to b: the next column
    ]
    # from the lowest up: b 0, f 1, d 2 (near both), a 0 (near d only), e 0
    assert label_columns(points, min_gap=0.05) == [0, 0, 0, 2, 0, 1]
    assert label_columns(points, min_gap=0.001) == [0] * 6
    assert label_columns(points[:4], min_gap=1.0) == [2, 0, 0, 1]
    # in the SVG (y axis 0.3-0.4 over ~290 px) numbers 1-3 are within a pixel or two of
    # each other; number 4 is ~20 px below them
    close = [
        {"label": "a", "x": 4, "y": 0.400},
        {"label": "b", "x": 4, "y": 0.399},
        {"label": "c", "x": 2, "y": 0.30},
        {"label": "d", "x": 4, "y": 0.3995},
        {"label": "e", "x": 4, "y": 0.38},
    ]
    svg = log_xy_chart({"points": close, "base": 2})
    xs = {
        m.group(2): float(m.group(1))
        for m in re.finditer(r'class="point-label" x="([\d.]+)"[^>]*>(\d+)<', svg)
    }
    assert xs["2"] < xs["4"] < xs["1"]  # one column each, lowest accuracy first
    assert xs["5"] == xs["2"]  # by its marker: no number near it
