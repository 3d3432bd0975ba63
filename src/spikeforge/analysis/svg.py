"""Minimal inline-SVG charts (no dependencies): line, grouped horizontal bar, raster.

Each function returns one ``<svg>`` element as a string, sized in CSS pixels, with text
escaped; data coordinates map linearly to a plot box inside fixed margins. Non-finite
values (NaN, inf) are skipped rather than drawn, so a missing metric leaves a gap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

# 14 colours (matplotlib's tab10, then darker or lighter tones): a LaSNN report draws up
# to 13 rows in one chart, and a colour used twice would make two rows one
PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf",
    "#e377c2", "#7f7f7f", "#bcbd22", "#393b79", "#843c39", "#637939", "#aec7e8",
)  # fmt: skip
FONT = 'font-family="sans-serif" font-size="11"'
TITLE_FONT = 'font-family="sans-serif" font-size="13" font-weight="bold"'


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]`` with a 1/2/5·10^k step."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"tick range must be finite, got [{lo}, {hi}]")
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    # Allow a step somewhat below the raw one: ~count..count+2 ticks reads better than 3.
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw / 1.5)
    start = math.floor(lo / step + 1e-9) * step
    ticks = []
    value = start
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < hi:
        ticks.append(round(value, 12))
    return ticks


def _fmt(v: float) -> str:
    # Ticks built by repeated addition can land on -1e-17: show it as "0", not "-0".
    return f"{0.0 if abs(v) < 1e-12 else v:.4g}"


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _open(width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img"><title>{escape(title)}</title>',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="16" text-anchor="middle" {TITLE_FONT}>{escape(title)}</text>',
    ]


def legend_space(labels: Sequence[str], font_px: float) -> int:
    """Pixels a legend of ``labels`` needs right of a plot: its swatch (26 px) and the
    longest label at ``font_px`` (sans-serif, ~0.6 em per character), plus a margin."""
    longest = max((len(label) for label in labels), default=0)
    return math.ceil(26 + 0.6 * font_px * longest + 8)


def line_chart(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    width: int = 520,
    height: int = 300,
    legend_width: int = 120,
) -> str:
    """Lines of ``{name: (xs, ys)}`` with axes, ticks and a legend (at least
    ``legend_width`` pixels at the right; a longer series name widens the legend and
    the chart by as much, :func:`legend_space`, so no name is cut)."""
    if not series:
        raise ValueError("line_chart needs at least one series")
    for name, (xs, ys) in series.items():
        if len(xs) != len(ys):
            raise ValueError(f"series {name!r}: {len(xs)} x values but {len(ys)} y values")
    xs_all = [x for xs, _ in series.values() for x in _finite(xs)]
    ys_all = [y for _, ys in series.values() for y in _finite(ys)]
    if not xs_all or not ys_all:
        xs_all, ys_all = [0.0, 1.0], [0.0, 1.0]
    xt = nice_ticks(min(xs_all), max(xs_all))
    yt = nice_ticks(min(ys_all), max(ys_all))
    x0, x1 = xt[0], max(xt[-1], xt[0] + 1e-12)
    y0, y1 = yt[0], max(yt[-1], yt[0] + 1e-12)
    left, right, top, bottom = 56, legend_width, 26, 40
    pw, ph = width - left - right, height - top - bottom
    right = max(right, legend_space(list(series), 11))  # the legend's font: FONT, 11 px
    width = left + pw + right

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    out = _open(width, height, title)
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
            f'<text x="{px(t):.1f}" y="{top + ph + 14}" text-anchor="middle" {FONT}>'
            f"{_fmt(t)}</text>"
        )
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    out.append(
        f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle" {FONT}>'
        f"{escape(xlabel)}</text>"
    )
    out.append(
        f'<text transform="translate(12 {top + ph / 2}) rotate(-90)" '
        f'text-anchor="middle" {FONT}>{escape(ylabel)}</text>'
    )
    for i, (name, (xs, ys)) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        points = [
            (float(x), float(y))
            for x, y in zip(xs, ys, strict=True)
            if y is not None and math.isfinite(float(y)) and math.isfinite(float(x))
        ]
        if len(points) > 1:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in points:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{color}"/>')
        ly = top + 10 + 16 * i
        out.append(
            f'<rect x="{left + pw + 10}" y="{ly - 8}" width="12" height="4" fill="{color}"/>'
        )
        out.append(f'<text x="{left + pw + 26}" y="{ly - 2}" {FONT}>{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    title: str = "",
    xlabel: str = "",
    width: int = 520,
    log: bool = False,
) -> str:
    """Grouped horizontal bars: one row per label, one bar per series (``log`` x-axis
    for quantities spanning decades, e.g. energy per layer)."""
    if not labels or not series:
        raise ValueError("bar_chart needs labels and at least one series")
    for name, values in series.items():
        if len(values) != len(labels):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(labels)} labels")
    values_all = _finite([v for vs in series.values() for v in vs])
    if log:
        positive = [v for v in values_all if v > 0] or [1.0]
        lo, hi = math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
        hi = max(hi, lo + 1)

        def scale(v: float) -> float:
            return 0.0 if v <= 0 else max(0.0, (math.log10(v) - lo) / (hi - lo))

        ticks = [(float(10**k), (k - lo) / (hi - lo)) for k in range(lo, hi + 1)]
    else:
        top_value = max([*values_all, 0.0]) or 1.0
        vt = nice_ticks(0.0, top_value)

        def scale(v: float) -> float:
            return max(0.0, v / vt[-1])

        ticks = [(t, t / vt[-1]) for t in vt]
    n_series = len(series)
    bar_h, gap = 12, 8
    row_h = bar_h * n_series + gap
    left = min(220, 12 + 7 * max(len(str(label)) for label in labels))
    right, top = 20, 30 + 16 * n_series
    pw = width - left - right
    height = top + row_h * len(labels) + 40
    out = _open(width, height, title)
    for value, frac in ticks:
        x = left + frac * pw
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{height - 36}" stroke="#e5e5e5"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{height - 24}" text-anchor="middle" {FONT}>{_fmt(value)}</text>'
        )
    out.append(
        f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle" {FONT}>'
        f"{escape(xlabel)}</text>"
    )
    for j, name in enumerate(series):
        color = PALETTE[j % len(PALETTE)]
        out.append(f'<rect x="{left}" y="{22 + 16 * j}" width="12" height="10" fill="{color}"/>')
        out.append(f'<text x="{left + 16}" y="{31 + 16 * j}" {FONT}>{escape(name)}</text>')
    for i, label in enumerate(labels):
        y = top + i * row_h
        out.append(
            f'<text x="{left - 6}" y="{y + row_h / 2:.1f}" text-anchor="end" {FONT}>'
            f"{escape(str(label))}</text>"
        )
        for j, values in enumerate(series.values()):
            v = float(values[i]) if values[i] is not None else float("nan")
            if not math.isfinite(v):
                continue
            w = scale(v) * pw
            out.append(
                f'<rect x="{left}" y="{y + j * bar_h}" width="{w:.1f}" '
                f'height="{bar_h - 2}" fill="{PALETTE[j % len(PALETTE)]}">'
                f"<title>{escape(str(label))}: {_fmt(v)}</title></rect>"
            )
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - 36}" stroke="#333"/>')
    out.append("</svg>")
    return "\n".join(out)


def raster_plot(spikes: Sequence[Sequence[float]], title: str = "", width: int = 520) -> str:
    """Spike raster of ``spikes[t][n]`` (nonzero = spike): time on x, neuron on y."""
    steps = len(spikes)
    if steps == 0:
        raise ValueError("raster_plot needs at least one time step")
    neurons = len(spikes[0])
    if any(len(row) != neurons for row in spikes):
        raise ValueError("raster rows (time steps) must all have the same number of neurons")
    left, right, top, bottom = 56, 20, 26, 40
    row = max(4, min(14, 240 // max(neurons, 1)))
    height = top + row * max(neurons, 1) + bottom
    pw = width - left - right
    cell = pw / steps
    out = _open(width, height, title)
    out.append(
        f'<rect x="{left}" y="{top}" width="{pw}" height="{row * neurons}" '
        'fill="#fafafa" stroke="#333"/>'
    )
    for t, values in enumerate(spikes):
        for n, value in enumerate(values):
            if value:
                out.append(
                    f'<rect x="{left + t * cell + 0.15 * cell:.1f}" y="{top + n * row + 1}" '
                    f'width="{max(0.7 * cell, 1.0):.1f}" height="{row - 2}" fill="#222"/>'
                )
    for t in nice_ticks(0, steps - 1) if steps > 1 else [0]:
        if t <= steps - 1:
            out.append(
                f'<text x="{left + (t + 0.5) * cell:.1f}" y="{top + row * neurons + 14}" '
                f'text-anchor="middle" {FONT}>{_fmt(t)}</text>'
            )
    out.append(
        f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle" {FONT}>time step</text>'
    )
    out.append(
        f'<text transform="translate(12 {top + row * neurons / 2}) rotate(-90)" '
        f'text-anchor="middle" {FONT}>neuron</text>'
    )
    out.append("</svg>")
    return "\n".join(out)
