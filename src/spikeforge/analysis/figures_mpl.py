"""The report's figures (:mod:`.figures` specs) as PNG and PDF files, for papers.

Needs matplotlib (the ``plot`` extra); :func:`save_figures` returns ``[]`` without it,
so a report is still written. Each spec ``name`` gives ``NAME.png`` and ``NAME.pdf``.
The pictures show the same data as the inline SVGs (same specs), drawn by matplotlib.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .figures import FIGURE_KINDS, cell_rgb, place_labels
from .svg import PALETTE


def matplotlib_available() -> bool:
    """Whether matplotlib can be imported (the ``plot`` extra is installed)."""
    return importlib.util.find_spec("matplotlib") is not None


def _stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.")
    if not stem:
        raise ValueError(f"a figure needs a name usable as a file stem, got {name!r}")
    return stem


def save_figures(
    specs: Sequence[Mapping[str, Any]],
    directory: str | Path,
    formats: Sequence[str] = ("png", "pdf"),
) -> list[Path]:
    """Draw every spec with matplotlib into ``directory``; the files written (``[]``
    when matplotlib is missing)."""
    if not specs or not matplotlib_available():
        return []
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt
    from cycler import cycler

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    # the HTML report's colours, in the same order (and more than matplotlib's ten)
    with plt.rc_context({"axes.prop_cycle": cycler(color=PALETTE)}):
        figures = [(spec, _draw(plt, spec)) for spec in specs]
    for spec, figure in figures:
        for fmt in formats:
            path = directory / f"{_stem(str(spec.get('name', '')))}.{fmt}"
            figure.savefig(path, dpi=150, bbox_inches="tight")
            written.append(path)
        plt.close(figure)
    return written


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(float(value))


def _draw(plt: Any, spec: Mapping[str, Any]) -> Any:
    kind = spec.get("kind")
    if kind == "log_xy":
        return _log_xy(plt, spec)
    if kind == "lines":
        panels = list(spec["panels"])
        figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.6), squeeze=False)
        for ax, panel in zip(axes[0], panels, strict=True):
            for label, (xs, ys) in panel["series"].items():
                pts = [(x, y) for x, y in zip(xs, ys, strict=True) if _finite(y)]
                if pts:
                    ax.plot(*zip(*pts, strict=True), marker="o", markersize=3, label=label)
            ax.set(title=panel.get("title", ""), xlabel=panel.get("xlabel", "epoch"))
            ax.set_ylabel(panel.get("ylabel", ""))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        figure.suptitle(spec.get("title", ""))
        return figure
    if kind == "bars":
        labels = list(spec["labels"])
        series = dict(spec["series"])
        figure, ax = plt.subplots(figsize=(7, 0.5 + 0.22 * len(labels) * max(1, len(series))))
        height = 0.8 / max(1, len(series))
        for j, (name, values) in enumerate(series.items()):
            ys = [i + j * height for i in range(len(labels))]
            widths = [float(v) if _finite(v) else 0.0 for v in values]
            ax.barh(ys, widths, height=height, label=name)
        ax.set_yticks([i + 0.4 - height / 2 for i in range(len(labels))], labels, fontsize=7)
        ax.invert_yaxis()
        ax.set(title=spec.get("title", ""), xlabel=spec.get("xlabel", ""))
        ax.legend(fontsize=7)
        return figure
    if kind == "heatmaps":
        columns, rows = list(spec["columns"]), list(spec["rows"])
        figure, axes = plt.subplots(
            len(rows), len(columns), figsize=(1.3 * len(columns), 1.3 * len(rows)), squeeze=False
        )
        for i, row in enumerate(rows):
            for j, cell in enumerate(row["cells"]):
                ax = axes[i][j]
                ax.imshow(cell_rgb(cell), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(str(columns[j]), fontsize=6)
            axes[i][0].set_ylabel(str(row.get("label", i)), fontsize=7)
        figure.suptitle(spec.get("title", ""), fontsize=9)
        return figure
    raise ValueError(f"figure kind must be one of {FIGURE_KINDS}, got {kind!r}")


def _log_xy(plt: Any, spec: Mapping[str, Any]) -> Any:
    figure, ax = plt.subplots(figsize=(7, 4))
    for curve in spec.get("curves", []):
        pts = [
            (x, y) for x, y in zip(curve["x"], curve["y"], strict=True) if _finite(x) and _finite(y)
        ]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", markersize=3, label=curve["label"])
    for k, h in enumerate(spec.get("hlines", [])):
        if _finite(h.get("y")):
            ax.axhline(
                h["y"], linestyle="--", color=PALETTE[(k + 3) % len(PALETTE)], label=h["label"]
            )
    points = spec.get("points", [])
    drawn = [i for i, p in enumerate(points) if _finite(p.get("x")) and _finite(p.get("y"))]
    for i in drawn:
        p = points[i]
        err = p.get("yerr") if _finite(p.get("yerr")) else None
        ax.errorbar(p["x"], p["y"], yerr=err, fmt="D", markersize=5, capsize=3, color="#333")
    ax.set_xscale("log", base=int(spec.get("base", 10)))
    ax.autoscale_view()
    # the numbers' places in display pixels (y flipped to grow downwards), then as offsets
    # in points: 10-pt digits ~6 pt wide, 5-pt diamonds
    per_point = figure.dpi / 72
    height = figure.get_figheight() * figure.dpi
    anchors = [ax.transData.transform((points[i]["x"], points[i]["y"])) for i in drawn]
    anchors = [(float(x), height - float(y)) for x, y in anchors]
    widths = [6 * per_point * len(str(i + 1)) for i in drawn]
    offsets = place_labels(anchors, widths, 10 * per_point, 3.5 * per_point)
    for i, (dx, dy) in zip(drawn, offsets, strict=True):
        ax.annotate(str(i + 1), (points[i]["x"], points[i]["y"]), textcoords="offset points",
                    xytext=(dx / per_point, -dy / per_point), va="center")  # fmt: skip
    ax.set(
        title=spec.get("title", ""), xlabel=spec.get("xlabel", ""), ylabel=spec.get("ylabel", "")
    )
    ax.grid(alpha=0.3)
    numbered = "\n".join(f"{i + 1}: {p['label']}" for i, p in enumerate(spec.get("points", [])))
    if ax.get_legend_handles_labels()[0]:  # curves or lines to name (points are numbered)
        ax.legend(fontsize=7, loc="lower right")
    if numbered:
        ax.text(1.02, 1.0, numbered, transform=ax.transAxes, fontsize=7, va="top")
    return figure
