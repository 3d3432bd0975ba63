import math
import xml.etree.ElementTree as ET

import pytest

from spikeforge.analysis.svg import bar_chart, legend_space, line_chart, nice_ticks, raster_plot

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{NS}svg"
    return root


def test_nice_ticks_cover_range_with_round_steps():
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(3, 97) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(2, 2) == [2]
    ticks = nice_ticks(-0.37, 1.91)
    assert ticks[0] <= -0.37 and ticks[-1] >= 1.91
    with pytest.raises(ValueError, match="finite"):
        nice_ticks(0, math.inf)


def test_line_chart_draws_each_series_and_skips_nan():
    svg = line_chart({"loss": ([1, 2, 3], [1.0, math.nan, 0.5]), "<b>": ([1, 2], [0.2, 0.3])},
                     title="a & b", xlabel="epoch")  # fmt: skip
    root = parse(svg)
    assert len(root.findall(f"{NS}circle")) == 4  # NaN point skipped
    assert len(root.findall(f"{NS}polyline")) == 2
    assert "&lt;b&gt;" in svg and "a &amp; b" in svg
    with pytest.raises(ValueError, match="2 x values but 1 y values"):
        line_chart({"s": ([1, 2], [1])})


def test_bar_chart_one_bar_per_value_linear_and_log():
    root = parse(bar_chart(["l1", "l2", "l3"], {"snn": [1, 10, 0], "ann": [5, 50, 500]}))
    bars = [r for r in root.iter(f"{NS}rect") if r.find(f"{NS}title") is not None]
    assert len(bars) == 6
    widths = [float(r.get("width")) for r in bars]
    assert widths[4] == 0.0 or widths[4] < widths[5]  # 0 draws nothing, 500 widest
    root = parse(bar_chart(["a", "b"], {"e": [1e2, 1e6]}, log=True))
    bars = [
        float(r.get("width")) for r in root.iter(f"{NS}rect") if r.find(f"{NS}title") is not None
    ]
    assert bars[0] < bars[1]
    with pytest.raises(ValueError, match="has 1 values for 2 labels"):
        bar_chart(["a", "b"], {"e": [1]})


def test_raster_one_mark_per_spike():
    spikes = [[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 0, 0]]
    root = parse(raster_plot(spikes, title="r"))
    marks = [r for r in root.iter(f"{NS}rect") if r.get("fill") == "#222"]
    assert len(marks) == 5
    with pytest.raises(ValueError, match="same number of neurons"):
        raster_plot([[1, 0], [1]])


def test_a_long_series_name_widens_the_chart_and_is_written_whole():
    short = line_chart({"a": ([0, 1], [0, 1])}, width=520, legend_width=120)
    name = "spiking VGG-small with BN + LaSNN (activation attention)"
    long = line_chart({"a": ([0, 1], [0, 1]), name: ([0, 1], [1, 0])}, width=520)
    width = {s: float(ET.fromstring(s).get("width")) for s in (short, long)}
    assert width[short] == 520
    assert width[long] == 520 - 120 + legend_space(["a", name], 11) > 520 + 200
    assert f">{name}</text>" in long
    # the plot area is the same: only the legend grew
    frames = [
        [r.get("width") for r in ET.fromstring(s).iter("{http://www.w3.org/2000/svg}rect")
         if r.get("stroke") == "#333"]
        for s in (short, long)
    ]  # fmt: skip
    assert frames[0] == frames[1] and len(frames[0]) == 1


def test_legend_space_grows_with_the_longest_label():
    assert legend_space([], 10) == 34
    assert legend_space(["ab", "abcd"], 10) == legend_space(["abcd"], 10) == 34 + 24
