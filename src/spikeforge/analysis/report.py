"""Self-contained HTML run report: one file, inline CSS and inline SVG, no scripts.

``write_report(path, data)`` renders whichever of these sections ``data`` holds (all
optional; unknown keys raise, so a typo does not silently drop a section):

- ``title`` (str), ``meta`` ({name: value}: model, dataset, T, ...);
- ``curves``: ``[{"epoch": 1, "loss": .., "acc": .., ...}, ...]`` — losses and the other
  metrics are drawn in two charts;
- ``firing_rates``: ``{layer: rate}`` or ``{layer: {"rate", "dead", "saturated"}}``
  (:meth:`ActivityMonitor.summary`);
- ``energy``: :meth:`EnergyReport.to_dict` (or the report itself);
- ``rasters`` / ``traces``: ``{layer: [T][n]}`` spikes / membrane of chosen neurons;
- ``ssim``: ``[(layer_a, layer_b, value), ...]`` (:func:`successive_ssim`);
- ``conversion``: ``[{"T": 4, "acc": ..}, ...]`` accuracy vs time steps;
- ``distillation``: ``[{...}, ...]`` comparison rows; ``tables``: ``{title: rows}``;
- ``figures``: ``[spec, ...]`` (:mod:`.figures`: log-axis scatter/curves, line panels,
  bars, heatmap grids), each drawn under its ``section`` heading (consecutive specs with
  the same ``section`` share it) with its optional ``note`` below; placed after ``meta``.

Tensors are accepted anywhere a list is (converted with ``tolist``).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from .energy import EnergyReport, format_energy
from .figures import render_figure
from .svg import bar_chart, line_chart, raster_plot

SECTIONS = (
    "title",
    "meta",
    "curves",
    "firing_rates",
    "energy",
    "rasters",
    "traces",
    "ssim",
    "conversion",
    "distillation",
    "tables",
    "figures",
)

CSS = """
body { font-family: sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 17px; border-bottom: 1px solid #ccc; margin-top: 28px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; } .note { color: #666; font-size: 12px; }
"""


def _plain(value: Any) -> Any:
    """Tensors/arrays -> lists (anything with ``tolist``); containers recursively."""
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return value.tolist()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return escape(str(value))


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return '<p class="note">(empty)</p>'
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row.get(c, ''))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _rows(value: Any, key: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(r, Mapping) for r in value):
        raise TypeError(f"data[{key!r}] must be a list of dicts, got {type(value).__name__}")
    return value


def _curves(rows: list[Mapping[str, Any]]) -> str:
    x_key = "epoch" if all("epoch" in r for r in rows) else None
    xs = [r["epoch"] for r in rows] if x_key else list(range(1, len(rows) + 1))
    metrics = [k for k in dict.fromkeys(k for r in rows for k in r) if k != "epoch"]
    numeric = [k for k in metrics if all(isinstance(r.get(k, 0.0), int | float) for r in rows)]
    losses = [k for k in numeric if "loss" in k]
    others = [k for k in numeric if "loss" not in k]
    charts = []
    for keys, title in ((losses, "loss"), (others, "metrics")):
        if keys:
            series = {k: (xs, [float(r.get(k, float("nan"))) for r in rows]) for k in keys}
            charts.append(line_chart(series, title=title, xlabel="epoch", ylabel=title))
    return f'<div class="charts">{"".join(charts)}</div>' + _table(rows)


def _firing(rates: Mapping[str, Any]) -> str:
    rows = []
    for layer, value in rates.items():
        row = dict(value) if isinstance(value, Mapping) else {"rate": value}
        rows.append({"layer": layer, **row})
    labels = [r["layer"] for r in rows]
    series = {
        k: [float(r.get(k, float("nan"))) for r in rows]
        for k in ("rate", "dead", "saturated")
        if any(k in r for r in rows)
    }
    chart = bar_chart(labels, series, title="firing rate per layer", xlabel="fraction")
    return chart + _table(rows)


def _energy(energy: Mapping[str, Any]) -> str:
    layers = energy.get("layers", [])
    ops_per_layer = Counter(r["layer"] for r in layers)
    rows = [
        {
            "layer": r["layer"] or "<model>",
            "op": f"{r['op']}#{r.get('index', 0)}" if ops_per_layer[r["layer"]] > 1 else r["op"],
            "kind": r["kind"],
            "inputs": ", ".join(r.get("inputs") or ()) or "-",
            "rate": r["rate"],
            "MACs": f"{r['macs']:,.0f}",
            "SOPs": f"{r['sops']:,.0f}",
            "E_SNN": format_energy(r["snn_pj"]),
            "E_ANN": "-" if r.get("ann_pj") is None else format_energy(r["ann_pj"]),
        }
        for r in layers
    ]
    preset = energy.get("preset", {})
    summary = {
        "preset": preset.get("name", "?"),
        "E_MAC (pJ)": preset.get("e_mac_pj", float("nan")),
        "E_AC (pJ)": preset.get("e_ac_pj", float("nan")),
        "T": energy.get("steps", ""),
        "E_SNN": format_energy(energy["snn_pj"]),
        "E_ANN": format_energy(energy["ann_pj"]),
        "ANN/SNN": energy.get("ratio", float("nan")),
        "Norm#OPS": energy.get("norm_ops", float("nan")),
        "(Norm#OPS/5.1)^-1": energy.get("spikingbert_ratio", float("nan")),
    }
    if summary["(Norm#OPS/5.1)^-1"] is None:  # Norm#OPS = 0: undefined (see energy.py)
        summary["(Norm#OPS/5.1)^-1"] = "n/a"
    note = ""
    if energy.get("spiking") is False:
        note = (
            '<p class="note">No spike-driven (AC) operation: an ANN, every op a MAC. E_SNN is '
            "its energy and it is its own ANN twin; Norm#OPS and (Norm#OPS/5.1)^-1 do not "
            "apply.</p>"
        )
    chart = ""
    if layers:
        series = {"SNN": [r["snn_pj"] for r in layers]}
        if all(r.get("ann_pj") is not None for r in layers):
            series["ANN twin"] = [r["ann_pj"] for r in layers]
        chart = bar_chart(
            [r["layer"] for r in layers],
            series,
            title="energy per layer (pJ)",
            xlabel="pJ per sample (log)",
            log=True,
        )
    return _table([summary]) + note + chart + _table(rows)


def _rasters(rasters: Mapping[str, Any]) -> str:
    return (
        '<div class="charts">'
        + "".join(raster_plot(_plain(s), title=f"{layer}") for layer, s in rasters.items())
        + "</div>"
    )


def _traces(traces: Mapping[str, Any]) -> str:
    charts = []
    for layer, trace in traces.items():
        values = _plain(trace)
        steps = list(range(len(values)))
        n = len(values[0]) if values else 0
        series = {f"n{i}": (steps, [row[i] for row in values]) for i in range(min(n, 6))}
        if series:
            charts.append(
                line_chart(series, title=f"membrane {layer}", xlabel="time step", ylabel="v")
            )
    return f'<div class="charts">{"".join(charts)}</div>'


def _conversion(rows: list[Mapping[str, Any]]) -> str:
    x_key = next((k for k in ("T", "steps", "t") if all(k in r for r in rows)), None)
    if x_key is None:
        raise ValueError(f"data['conversion'] rows need a 'T' key, got keys {sorted(rows[0])}")
    xs = [r[x_key] for r in rows]
    keys = [k for k in dict.fromkeys(k for r in rows for k in r) if k != x_key]
    series = {k: (xs, [float(r.get(k, float("nan"))) for r in rows]) for k in keys}
    chart = line_chart(series, title="conversion: accuracy vs T", xlabel="T", ylabel="accuracy")
    return chart + _table(rows)


def _figures(specs: list[Mapping[str, Any]]) -> list[str]:
    parts: list[str] = []
    heading = None
    for spec in specs:
        section = str(spec.get("section", spec.get("title", "")))
        if section != heading:
            parts.append(f"<h2>{escape(section)}</h2>")
            heading = section
        parts.append(f'<div class="charts">{render_figure(spec)}</div>')
        if spec.get("note"):
            parts.append(f'<p class="note">{escape(str(spec["note"]))}</p>')
    return parts


def render_report(data: Mapping[str, Any]) -> str:
    """The report HTML as a string (see the module docstring for ``data``)."""
    if not isinstance(data, Mapping):
        raise TypeError(f"report data must be a dict, got {type(data).__name__}")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown report sections {unknown}; expected keys among {list(SECTIONS)}")
    if isinstance(data.get("energy"), EnergyReport):
        data = {**data, "energy": data["energy"].to_dict()}
    data = _plain(data)
    title = str(data.get("title", "spikeforge run report"))
    parts = [f"<h1>{escape(title)}</h1>"]
    if data.get("meta"):
        meta = data["meta"]
        parts.append(_table([{"key": k, "value": v} for k, v in meta.items()]))
    parts += _figures(_rows(data.get("figures") or [], "figures"))
    if data.get("curves"):
        parts += ["<h2>Training curves</h2>", _curves(_rows(data["curves"], "curves"))]
    if data.get("firing_rates"):
        parts += ["<h2>Firing rates</h2>", _firing(data["firing_rates"])]
    if data.get("energy"):
        parts += ["<h2>Energy per inference</h2>", _energy(data["energy"])]
    if data.get("rasters"):
        parts += ["<h2>Spike rasters</h2>", _rasters(data["rasters"])]
    if data.get("traces"):
        parts += ["<h2>Membrane traces</h2>", _traces(data["traces"])]
    if data.get("ssim"):
        rows = [{"from": a, "to": b, "SSIM": float(v)} for a, b, v in data["ssim"]]
        parts += ["<h2>SSIM of firing-rate maps between successive layers</h2>", _table(rows)]
    if data.get("conversion"):
        parts += [
            "<h2>ANN→SNN conversion</h2>",
            _conversion(_rows(data["conversion"], "conversion")),
        ]
    if data.get("distillation"):
        parts += ["<h2>Distillation</h2>", _table(_rows(data["distillation"], "distillation"))]
    for name, rows in (data.get("tables") or {}).items():
        parts += [f"<h2>{escape(str(name))}</h2>", _table(_rows(rows, f"tables.{name}"))]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join(parts)
        + '\n<p class="note">Generated by spikeforge (self-contained: no scripts, no network).</p>'
        + "</body></html>\n"
    )


def write_report(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """Write the report for ``data`` to ``path`` (one HTML file; parents created)."""
    html = render_report(data)
    directory = os.path.dirname(os.fspath(path))
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(html)
