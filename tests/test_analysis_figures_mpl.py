"""Figures saved as PNG and PDF with matplotlib (analysis/figures_mpl.py)."""

import importlib.util

import pytest

from spikeforge.analysis import figures_mpl
from spikeforge.analysis.figures_mpl import save_figures

SPECS = [
    {"kind": "log_xy", "name": "acc vs T", "base": 2, "title": "acc",
     "curves": [{"label": "conv", "x": [2, 4, 8], "y": [0.2, 0.5, 0.9]}],
     "points": [{"label": "lasnn", "x": 4, "y": 0.8, "yerr": 0.01}],
     "hlines": [{"label": "teacher", "y": 0.95}]},
    {"kind": "lines", "name": "curves",
     "panels": [{"title": "loss", "series": {"a": [[1, 2], [1.0, 0.5]]}}]},
    {"kind": "bars", "name": "rates", "labels": ["l1", "l2"], "series": {"kd": [0.1, None]}},
    {"kind": "heatmaps", "name": "att", "columns": ["input", "map"],
     "rows": [{"label": "x", "cells": [{"image": [[[0.0, 1.0]]]}, {"map": [[0.0, 2.0]]}]}]},
]  # fmt: skip


def test_every_figure_kind_becomes_a_png_and_a_pdf(tmp_path):
    pytest.importorskip("matplotlib")
    written = save_figures(SPECS, tmp_path / "figs")
    names = sorted(p.name for p in written)
    assert names == sorted(
        f"{stem}.{ext}" for stem in ("acc_vs_T", "curves", "rates", "att") for ext in ("png", "pdf")
    )
    for path in written:
        data = path.read_bytes()
        magic = b"\x89PNG" if path.suffix == ".png" else b"%PDF"
        assert data.startswith(magic) and len(data) > 1000, path


def test_without_matplotlib_nothing_is_written(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        figures_mpl.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real(name, *a),
    )
    assert save_figures(SPECS, tmp_path / "figs") == []
    assert not (tmp_path / "figs").exists()


def test_bad_names_and_kinds_are_refused(tmp_path):
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="file stem"):
        save_figures([{**SPECS[2], "name": "//"}], tmp_path)
    with pytest.raises(ValueError, match="figure kind must be one of"):
        save_figures([{"kind": "pie", "name": "p"}], tmp_path)


def test_thirteen_series_get_thirteen_colours_in_the_reports_order(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from spikeforge.analysis.svg import PALETTE

    assert len(set(PALETTE)) == len(PALETTE) >= 13
    drawn = []
    real = figures_mpl._draw

    def keep(plt, spec):
        figure = real(plt, spec)
        drawn.append(figure)
        return figure

    monkeypatch.setattr(figures_mpl, "_draw", keep)
    series = {f"row {i}": [[1, 2], [1.0, 0.5 + i]] for i in range(13)}
    save_figures([{"kind": "lines", "name": "many", "panels": [{"series": series}]}], tmp_path)
    from matplotlib.colors import to_hex

    colours = [to_hex(line.get_color()) for line in drawn[0].axes[0].get_lines()]
    assert colours == list(PALETTE[:13])
