import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
import torch
from torch import nn

from spikeforge.analysis.activity import ActivityMonitor, successive_ssim
from spikeforge.analysis.energy import estimate_energy
from spikeforge.analysis.ops import count_operations
from spikeforge.analysis.report import render_report, write_report
from spikeforge.layers import fold
from spikeforge.models.csnn import csnn_tiny


def run_data() -> dict:
    """Report data from a real (untrained) csnn_tiny forward plus synthetic curves."""
    torch.manual_seed(0)
    model = csnn_tiny(input_size=8, widths=(4, 8), neuron_kwargs={"backend": "torch", "v_th": 0.1})
    model.eval()
    x = torch.rand(6, 2, 1, 8, 8) * 3
    monitor = ActivityMonitor(model, neurons=range(12))
    with monitor.record():
        counts = count_operations(model, x)
    names = list(monitor.summary())
    return {
        "title": "csnn_tiny <test> run",
        "meta": {"model": "csnn_tiny", "T": 6, "dataset": "synthetic"},
        "curves": [
            {"epoch": e, "loss": 2.0 / e, "val_loss": 2.2 / e, "acc": 0.1 * e} for e in range(1, 8)
        ],
        "firing_rates": monitor.summary(),
        "energy": estimate_energy(counts),
        "rasters": {n: monitor.raster(n) for n in names},
        "traces": {names[0]: monitor.membrane(names[0])},
        "ssim": successive_ssim(monitor.rate_maps()),
        "conversion": [{"T": t, "acc": 0.9 - 0.5 / t} for t in (1, 2, 4, 8, 16, 32)],
        "distillation": [{"model": "student", "acc": 0.81}, {"model": "teacher", "acc": 0.9}],
    }


def test_report_has_every_section_and_is_self_contained(tmp_path):
    path = tmp_path / "sub" / "report.html"
    write_report(path, run_data())
    html = path.read_text(encoding="utf-8")
    for heading in ("Training curves", "Firing rates", "Energy per inference", "Spike rasters",
                    "Membrane traces", "SSIM", "conversion", "Distillation"):  # fmt: skip
        assert heading in html
    assert "csnn_tiny &lt;test&gt; run" in html
    assert "<script" not in html.lower() and "https://" not in html and " src=" not in html
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert len(svgs) >= 7
    for svg in svgs:
        ET.fromstring(svg)
    assert "Norm#OPS" in html and "0.layer.0" in html


def test_report_validation_and_minimal(tmp_path):
    with pytest.raises(ValueError, match="unknown report sections"):
        render_report({"curvez": []})
    with pytest.raises(TypeError, match="list of dicts"):
        render_report({"curves": {"loss": 1}})
    with pytest.raises(TypeError, match="dict"):
        render_report([])  # type: ignore[arg-type]
    html = render_report({"firing_rates": {"a": 0.1, "b": torch.tensor(0.2)}})
    assert "firing rate per layer" in html
    html = render_report({"tables": {"extra": [{"k": 1}]}})
    assert "<h2>extra</h2>" in html


def count_non_white(png: bytes) -> tuple[int, int]:
    """(non-white pixels, total) of an 8-bit RGB/RGBA non-interlaced PNG (zlib only)."""
    width, height, bpp, lines = unfiltered(png)
    non_white = sum(
        1 for line in lines for i in range(0, width * bpp, bpp) if min(line[i : i + 3]) < 240
    )
    return non_white, width * height


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="chromium not installed (apt-get install chromium)"
)
def test_report_renders_in_headless_chromium(tmp_path):
    path = tmp_path / "report.html"
    write_report(path, run_data())
    png = tmp_path / "shot.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    cmd = ["chromium", *flags, f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}"]
    cmd += ["--window-size=1200,2000", path.resolve().as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    if os.environ.get("SPIKEFORGE_KEEP_SCREENSHOT"):  # for looking at it by eye
        shutil.copy(png, os.environ["SPIKEFORGE_KEEP_SCREENSHOT"])
    non_white, total = count_non_white(Path(png).read_bytes())
    assert total == 1200 * 2000
    assert 0.02 * total < non_white < 0.6 * total  # drawn content, not blank nor a solid fill


FIGURES = [
    {"kind": "log_xy", "name": "acc_t", "section": "Accuracy vs T", "title": "acc", "base": 2,
     "curves": [{"label": "conv", "x": [2, 4, 8], "y": [0.2, 0.5, 0.9]}],
     "points": [{"label": "lasnn", "x": 4, "y": 0.8}], "note": "read the T off the curve"},
    {"kind": "heatmaps", "name": "att", "section": "Attention", "title": "maps",
     "columns": ["map"], "rows": [{"label": "x", "cells": [{"map": [[1.0, 1.0], [1.0, 1.0]]}]}]},
    {"kind": "heatmaps", "name": "att2", "section": "Attention", "title": "maps 2",
     "columns": ["map"], "rows": [{"label": "y", "cells": [{"map": [[0.0]]}]}]},
]  # fmt: skip


def test_figures_are_drawn_after_meta_under_their_sections():
    html = render_report({"meta": {"T": 4}, "figures": FIGURES, "distillation": [{"a": 1}]})
    headings = re.findall(r"<h2>(.*?)</h2>", html)
    assert headings == ["Accuracy vs T", "Attention", "Distillation"]  # one heading per run
    assert '<p class="note">read the T off the curve</p>' in html
    assert html.count('class="heatmap"') == 2 and html.count('data-figure="att') == 2
    for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        ET.fromstring(svg)
    assert "<script" not in html.lower() and "https://" not in html


def unfiltered(png: bytes) -> tuple[int, int, int, list[bytearray]]:
    """(width, height, bytes per pixel, unfiltered rows) of an 8-bit RGB/RGBA
    non-interlaced PNG (zlib only)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    prev, lines = bytearray(stride), []
    for y in range(height):
        filt = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if filt == 1:
                line[i] = (line[i] + a) & 255
            elif filt == 2:
                line[i] = (line[i] + b) & 255
            elif filt == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        lines.append(line)
        prev = line
    return width, height, bpp, lines


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="chromium not installed (apt-get install chromium)"
)
def test_figure_heatmaps_render_in_headless_chromium(tmp_path):
    # The heatmaps are PNG data URIs inside inline SVG: a browser must paint them. A map
    # of ones is the colormap's top colour (yellow 253, 231, 37) over 72×72 CSS pixels.
    path = tmp_path / "report.html"
    write_report(path, {"title": "figures", "figures": FIGURES})
    png = tmp_path / "shot.png"
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
           "--window-size=1000,1200", path.resolve().as_uri()]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    _, _, bpp, lines = unfiltered(png.read_bytes())
    yellow = sum(
        1
        for line in lines
        for i in range(0, len(line), bpp)
        if abs(line[i] - 253) < 8 and abs(line[i + 1] - 231) < 8 and line[i + 2] < 60
    )
    assert yellow > 0.8 * 72 * 72  # the all-ones map, painted


def test_energy_section_of_an_ann_says_what_applies():
    ann = nn.Sequential(fold(nn.Linear(6, 5)), fold(nn.ReLU()), fold(nn.Linear(5, 3)))
    with torch.no_grad():  # positive: the ReLU output is analog, never all-zero "spikes"
        for p in ann.parameters():
            p.fill_(0.1)
    html = render_report({"energy": estimate_energy(count_operations(ann, torch.rand(1, 2, 6)))})
    assert "<td>n/a</td>" in html and "No spike-driven (AC) operation: an ANN" in html
    assert "<td>inf</td>" not in html and "<td>None</td>" not in html
