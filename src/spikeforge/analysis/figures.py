"""Report figures described as plain data ("specs"), drawn as inline SVG.

A spec is a JSON-able dict with a ``kind`` and a ``name`` (the file stem when the figure
is also saved as PNG/PDF, :mod:`.figures_mpl`); :func:`render_figure` draws it:

- ``"log_xy"``: ``curves`` ``[{"label", "x": [...], "y": [...]}]``, ``points``
  ``[{"label", "x", "y", "yerr"?}]`` (labelled markers, vertical error bars) and
  ``hlines`` ``[{"label", "y"}]`` on a logarithmic x-axis (``base`` 2 or 10) and a
  linear y-axis — accuracy vs T, accuracy vs energy;
- ``"lines"``: ``panels`` ``[{"title", "ylabel", "series": {label: [x, y]}}]``, one line
  chart per panel (training curves; x = epoch);
- ``"bars"``: ``labels`` (one row each) and ``series`` ``{label: [value per row]}``
  (per-layer firing rates);
- ``"heatmaps"``: ``columns`` (names) and ``rows`` ``[{"label", "cells": [cell, ...]}]``,
  a cell ``{"image": [C][H][W] in [0, 1]}`` (1 or 3 channels) or ``{"map": [H][W]}``
  (non-negative, shown from 0 to the map's maximum) — attention maps beside their input.

Every drawn element carries ``class`` and ``data-*`` attributes (label, x, y, row,
column) so the report can be checked by parsing it. Heatmaps are embedded as small PNG
images (written here with ``zlib``: no imaging dependency) and scaled up without
smoothing.
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from .svg import FONT, PALETTE, _fmt, _open, bar_chart, legend_space, line_chart, nice_ticks

FIGURE_KINDS = ("log_xy", "lines", "bars", "heatmaps")

# viridis-like stops (dark blue -> green -> yellow): monotone in lightness, so the maps
# read the same in greyscale print
_STOPS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


# -- PNG ---------------------------------------------------------------------------------
def png_bytes(rgb: Sequence[Sequence[Sequence[int]]]) -> bytes:
    """An 8-bit RGB PNG of ``rgb`` ``[H][W][3]`` (integers 0..255)."""
    height = len(rgb)
    width = len(rgb[0]) if height else 0
    if not height or not width or any(len(row) != width for row in rgb):
        raise ValueError(f"png_bytes needs a non-empty [H][W][3] grid, got {height} rows")
    raw = b"".join(
        b"\x00" + bytes(max(0, min(255, int(c))) for pixel in row for c in pixel) for row in rgb
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def colormap(value: float) -> tuple[int, int, int]:
    """``value`` in ``[0, 1]`` (clipped) -> an RGB colour of the viridis-like scale."""
    v = min(1.0, max(0.0, float(value) if math.isfinite(value) else 0.0))
    position = v * (len(_STOPS) - 1)
    i = min(int(position), len(_STOPS) - 2)
    f = position - i
    a, b = _STOPS[i], _STOPS[i + 1]
    return tuple(round(a[k] + (b[k] - a[k]) * f) for k in range(3))  # type: ignore[return-value]


def cell_rgb(cell: Mapping[str, Any]) -> list[list[tuple[int, int, int]]]:
    """A heatmap cell as ``[H][W]`` RGB: ``{"map": [H][W]}`` through :func:`colormap`
    scaled by the map's maximum, ``{"image": [C][H][W]}`` in ``[0, 1]`` as grey (C = 1)
    or colour (C = 3)."""
    if "map" in cell:
        values = [[float(v) for v in row] for row in cell["map"]]
        top = max((v for row in values for v in row if math.isfinite(v)), default=0.0)
        scale = top if top > 0 else 1.0
        return [[colormap(v / scale) for v in row] for row in values]
    if "image" in cell:
        image = cell["image"]
        if len(image) not in (1, 3):
            raise ValueError(f"image cells must be [1 or 3][H][W], got {len(image)} channels")
        planes = [image[0]] * 3 if len(image) == 1 else image
        rows = range(len(planes[0]))
        cols = range(len(planes[0][0]))
        return [
            [tuple(round(255 * min(1.0, max(0.0, float(p[i][j])))) for p in planes) for j in cols]
            for i in rows
        ]  # type: ignore[misc]
    raise ValueError(f"a heatmap cell needs 'map' or 'image', got keys {sorted(cell)}")


def png_data_uri(rgb: Sequence[Sequence[Sequence[int]]]) -> str:
    """``data:image/png;base64,...`` of :func:`png_bytes`."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(rgb)).decode("ascii")


# -- log-x chart -------------------------------------------------------------------------
Box = tuple[float, float, float, float]  # left, top, right, bottom (y grows downwards)


def _overlap(a: Box, b: Box) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return width * height if width > 0 and height > 0 else 0.0


def place_labels(
    anchors: Sequence[tuple[float, float]],
    widths: Sequence[float],
    height: float,
    marker: float,
) -> list[tuple[float, float]]:
    """Where to write each point's label: per anchor (a marker's centre, in display units
    with y growing downwards), the offset of its label's left edge and vertical centre
    from the anchor. Labels are placed in order; each takes the first position — right of
    its marker, left, above, below, then further right — whose box (``widths[i]`` ×
    ``height``) covers no marker (half-size ``marker``) and no label placed before it,
    else the position covering least. Close students get their numbers around them
    rather than on top of each other or of a neighbour's marker."""
    gap = 2.0
    markers = [(x - marker, y - marker, x + marker, y + marker) for x, y in anchors]
    placed: list[Box] = []
    offsets = []
    for (x, y), width in zip(anchors, widths, strict=True):
        right = marker + gap
        candidates = [(right, 0.0), (-right - width, 0.0), (-width / 2, -marker - gap - height / 2)]
        candidates.append((-width / 2, marker + gap + height / 2))
        candidates += [(right + k * (width + gap), 0.0) for k in range(1, 8)]
        best, best_cover = candidates[0], float("inf")
        for dx, dy in candidates:
            box = (x + dx, y + dy - height / 2, x + dx + width, y + dy + height / 2)
            cover = sum(_overlap(box, other) for other in markers + placed)
            if cover < best_cover:
                best, best_cover = (dx, dy), cover
            if cover == 0.0:
                break
        offsets.append(best)
        dx, dy = best
        placed.append((x + dx, y + dy - height / 2, x + dx + width, y + dy + height / 2))
    return offsets


def _log_ticks(lo: float, hi: float, base: int) -> list[float]:
    first, last = math.floor(math.log(lo, base) + 1e-9), math.ceil(math.log(hi, base) - 1e-9)
    last = max(last, first + 1)
    return [float(base**k) for k in range(first, last + 1)]


def log_xy_chart(spec: Mapping[str, Any], width: int = 760, height: int = 360) -> str:
    """The ``"log_xy"`` figure (see the module docstring)."""
    base = int(spec.get("base", 10))
    if base not in (2, 10):
        raise ValueError(f"log_xy base must be 2 or 10, got {base}")
    curves = list(spec.get("curves", []))
    points = [p for p in spec.get("points", []) if _ok(p.get("x")) and _ok(p.get("y"))]
    hlines = [h for h in spec.get("hlines", []) if _ok(h.get("y"))]
    xs = [float(x) for c in curves for x in c["x"] if _ok(x)] + [float(p["x"]) for p in points]
    xs = [x for x in xs if x > 0]
    ys = [float(y) for c in curves for y in c["y"] if _ok(y)] + [float(h["y"]) for h in hlines]
    for p in points:
        err = float(p.get("yerr") or 0.0)
        ys += [float(p["y"]) - err, float(p["y"]) + err]
    if not xs or not ys:
        raise ValueError(f"figure {spec.get('name')!r} has no finite positive point to draw")
    xt = _log_ticks(min(xs), max(xs), base)
    yt = nice_ticks(min(ys), max(ys))
    y0, y1 = yt[0], max(yt[-1], yt[0] + 1e-12)
    left, right, top, bottom = 56, 270, 26, 40
    pw, ph = width - left - right, height - top - bottom
    # the legend names every curve, line and point (font 10 px): wide enough for the longest
    names = [str(c["label"]) for c in curves] + [str(h["label"]) for h in hlines]
    names += [f"{i + 1}: {p['label']}" for i, p in enumerate(points)]
    right = max(right, legend_space(names, 10))
    width = left + pw + right
    lx0, lx1 = math.log(xt[0], base), math.log(xt[-1], base)

    def px(x: float) -> float:
        return left + (math.log(x, base) - lx0) / (lx1 - lx0) * pw

    def py(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    out = _open(width, height, str(spec.get("title", "")))
    for t in yt:
        out.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}" '
            'stroke="#e5e5e5"/>'
        )
        out.append(
            f'<text x="{left - 4}" y="{py(t) + 4:.1f}" text-anchor="end" {FONT}>{_fmt(t)}</text>'
        )
    for t in xt:
        out.append(
            f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{top}" y2="{top + ph}" stroke="#eee"/>'
        )
        out.append(
            f'<text x="{px(t):.1f}" y="{top + ph + 14}" text-anchor="middle" {FONT}>'
            f"{_fmt(t)}</text>"
        )
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    xlabel = f"{spec.get('xlabel', '')} (log{'₂' if base == 2 else '₁₀'} axis)"
    out.append(
        f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle" {FONT}>'
        f"{escape(xlabel)}</text>"
    )
    out.append(
        f'<text transform="translate(12 {top + ph / 2}) rotate(-90)" text-anchor="middle" '
        f"{FONT}>{escape(str(spec.get('ylabel', '')))}</text>"
    )
    legend: list[tuple[str, str, str]] = []  # (label, colour, kind)
    for i, h in enumerate(hlines):
        color = PALETTE[(i + 3) % len(PALETTE)]
        y = py(float(h["y"]))
        out.append(
            f'<line class="hline" data-label="{escape(str(h["label"]))}" data-y="{float(h["y"])}" '
            f'x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="{color}" '
            'stroke-dasharray="6 4" stroke-width="1.5"/>'
        )
        legend.append((str(h["label"]), color, "hline"))
    for i, c in enumerate(curves):
        color = PALETTE[i % len(PALETTE)]
        pts = [
            (float(x), float(y))
            for x, y in zip(c["x"], c["y"], strict=True)
            if _ok(x) and _ok(y) and float(x) > 0
        ]
        label = escape(str(c["label"]))
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(
            f'<polyline class="curve" data-label="{label}" points="{path}" fill="none" '
            f'stroke="{color}" stroke-width="2"/>'
        )
        for x, y in pts:
            out.append(
                f'<circle class="curve-point" data-label="{label}" data-x="{x:g}" data-y="{y}" '
                f'cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{color}">'
                f"<title>{label}: {_fmt(x)}, {_fmt(y)}</title></circle>"
            )
        legend.append((str(c["label"]), color, "curve"))
    # 9-px numbers, ~5.5 px per digit; the diamonds reach 4 px from their centre
    anchors = [(px(float(p["x"])), py(float(p["y"]))) for p in points]
    offsets = place_labels(anchors, [5.5 * len(str(i + 1)) for i in range(len(points))], 9, 4)
    for i, p in enumerate(points):
        color = PALETTE[(i + 1) % len(PALETTE)]  # 0 is the first curve's
        x, y, label = float(p["x"]), float(p["y"]), escape(str(p["label"]))
        err = float(p.get("yerr") or 0.0)
        if err > 0:
            out.append(
                f'<line class="errorbar" data-label="{label}" x1="{px(x):.1f}" x2="{px(x):.1f}" '
                f'y1="{py(y - err):.1f}" y2="{py(y + err):.1f}" stroke="{color}"/>'
            )
        out.append(
            f'<path class="point" data-label="{label}" data-x="{x:g}" data-y="{y}" '
            f'd="M{px(x) - 4:.1f},{py(y):.1f} l4,-4 l4,4 l-4,4 z" fill="{color}">'
            f"<title>{label}: {_fmt(x)}, {_fmt(y)}</title></path>"
        )
        out.append(
            f'<text class="point-label" x="{px(x) + offsets[i][0]:.1f}" '
            f'y="{py(y) + offsets[i][1] + 3:.1f}" '
            f'font-family="sans-serif" font-size="9">{i + 1}</text>'
        )
        legend.append((f"{i + 1}: {p['label']}", color, "point"))
    for j, (label, color, kind) in enumerate(legend):
        y = top + 4 + 13 * j
        dash = ' stroke-dasharray="4 3"' if kind == "hline" else ""
        mark = (
            f'<line x1="{left + pw + 8}" x2="{left + pw + 22}" y1="{y + 4}" y2="{y + 4}" '
            f'stroke="{color}" stroke-width="2"{dash}/>'
            if kind != "point"
            else f'<rect x="{left + pw + 11}" y="{y + 1}" width="7" height="7" fill="{color}"/>'
        )
        out.append(mark)
        out.append(
            f'<text x="{left + pw + 26}" y="{y + 8}" font-family="sans-serif" font-size="10">'
            f"{escape(label)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)


def _ok(value: Any) -> bool:
    return value is not None and isinstance(value, int | float) and math.isfinite(float(value))


# -- heatmaps ----------------------------------------------------------------------------
def heatmap_grid(spec: Mapping[str, Any], cell_px: int = 72) -> str:
    """The ``"heatmaps"`` figure: a grid of images, ``cell_px`` wide each."""
    columns = [str(c) for c in spec.get("columns", [])]
    rows = list(spec.get("rows", []))
    if not columns or not rows:
        raise ValueError("a heatmaps figure needs columns and rows")
    left, top, gap, head = 70, 26, 6, 30
    width = max(left + len(columns) * (cell_px + gap) + 10, 470)  # room for the footer
    height = top + head + len(rows) * (cell_px + gap) + 24
    out = _open(width, height, str(spec.get("title", "")))
    for j, name in enumerate(columns):
        x = left + j * (cell_px + gap) + cell_px / 2
        for k, part in enumerate(name.split("\n")[:2]):
            out.append(
                f'<text x="{x:.1f}" y="{top + 10 + 11 * k}" text-anchor="middle" '
                f'font-family="sans-serif" font-size="9">{escape(_tail(part, 20))}</text>'
            )
    for i, row in enumerate(rows):
        y = top + head + i * (cell_px + gap)
        out.append(
            f'<text x="{left - 6}" y="{y + cell_px / 2:.1f}" text-anchor="end" {FONT}>'
            f"{escape(str(row.get('label', i)))}</text>"
        )
        cells = list(row["cells"])
        if len(cells) != len(columns):
            raise ValueError(f"heatmap row {i} has {len(cells)} cells for {len(columns)} columns")
        for j, cell in enumerate(cells):
            x = left + j * (cell_px + gap)
            kind = "map" if "map" in cell else "image"
            rgb = cell_rgb(cell)
            out.append(
                f'<image class="heatmap" data-kind="{kind}" data-row="{i}" data-col="{j}" '
                f'data-size="{len(rgb)}x{len(rgb[0])}" x="{x}" y="{y}" width="{cell_px}" '
                f'height="{cell_px}" preserveAspectRatio="none" '
                f'style="image-rendering:pixelated" href="{png_data_uri(rgb)}"/>'
            )
    out.append(
        f'<text x="{left}" y="{height - 8}" {FONT}>colour: 0 (dark) to the map\'s maximum '
        "(yellow), each map on its own scale</text>"
    )
    out.append("</svg>")
    return "\n".join(out)


def _tail(text: str, size: int) -> str:
    """The end of a long layer name (``…layers.1.neuron``): its last parts tell most."""
    return text if len(text) <= size else "…" + text[-(size - 1) :]


# -- dispatch ----------------------------------------------------------------------------
def render_figure(spec: Mapping[str, Any]) -> str:
    """One spec -> its SVG (``"lines"`` gives one chart per panel, side by side), each
    ``<svg>`` tagged ``data-figure="NAME"`` (panels: ``NAME/0``, ``NAME/1``, ...)."""
    name = escape(str(spec.get("name", "")))
    svg = _draw(spec)
    if spec.get("kind") == "lines":  # already tagged per panel
        return svg
    return svg.replace("<svg ", f'<svg data-figure="{name}" ', 1)


def _draw(spec: Mapping[str, Any]) -> str:
    kind = spec.get("kind")
    if kind == "log_xy":
        return log_xy_chart(spec)
    if kind == "heatmaps":
        return heatmap_grid(spec)
    if kind == "bars":
        labels = [str(label) for label in spec["labels"]]
        series = {str(k): [_nan(v) for v in vs] for k, vs in spec["series"].items()}
        return bar_chart(
            labels, series, title=str(spec.get("title", "")), xlabel=str(spec.get("xlabel", ""))
        )
    if kind == "lines":
        charts = []
        name = escape(str(spec.get("name", "")))
        for i, panel in enumerate(spec["panels"]):
            series = {
                str(k): ([float(x) for x in xy[0]], [_nan(y) for y in xy[1]])
                for k, xy in panel["series"].items()
            }
            charts.append(
                line_chart(
                    series,
                    title=str(panel.get("title", "")),
                    xlabel=str(panel.get("xlabel", "epoch")),
                    ylabel=str(panel.get("ylabel", "")),
                    width=700,
                    legend_width=230,
                ).replace("<svg ", f'<svg data-figure="{name}/{i}" ', 1)
            )
        return "\n".join(charts)
    raise ValueError(f"figure kind must be one of {FIGURE_KINDS}, got {kind!r}")


def _nan(value: Any) -> float:
    return float(value) if _ok(value) else float("nan")
