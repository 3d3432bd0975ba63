"""Result tables every pipeline shares (``pipelines/table.py``): seeds as mean ± std, cells,
Markdown alignment, and the results triple of a finished run."""

from __future__ import annotations

import json
import math
import statistics

import pytest

from spikeforge.pipelines.table import (
    accuracy_cell,
    against_spread,
    fmt,
    markdown,
    mean_std,
    seed_row,
    write_outputs,
)


def test_mean_std_by_hand_skipping_missing_values():
    mean, std = mean_std([0.9, None, 0.7, 0.8])
    assert mean == pytest.approx(0.8)
    assert std == pytest.approx(0.1)  # sample std: sqrt((0.01 + 0.01 + 0) / 2)
    assert std == pytest.approx(statistics.stdev([0.9, 0.7, 0.8]))
    assert mean_std([0.5]) == (0.5, 0.0)
    assert mean_std([None, None]) == (None, None)
    assert mean_std([]) == (None, None)


def test_seed_row_means_and_keeps_every_seed():
    results = [
        {"accuracy": 0.9, "T": 4, "firing_rate": 0.1, "energy_uj": 2.0},
        {"accuracy": 0.8, "T": 4, "firing_rate": 0.3, "energy_uj": None},
    ]
    row = seed_row("LaSNN", results, variant="lasnn", init="converted")
    assert row["row"] == "LaSNN" and row["T"] == 4 and row["seeds"] == 2
    assert row["accuracy"] == pytest.approx(0.85)
    assert row["accuracy_std"] == pytest.approx(math.sqrt(0.005))
    assert row["firing_rate"] == pytest.approx(0.2)
    assert row["energy_uj"] == 2.0  # the seed without a measurement is left out
    assert row["accuracies"] == [0.9, 0.8]
    assert (row["variant"], row["init"]) == ("lasnn", "converted")
    ann = seed_row("ANN", [{"accuracy": 0.95}])
    assert ann["T"] is None and ann["firing_rate"] is None and ann["accuracy_std"] == 0.0


def test_cells():
    assert fmt(None) == fmt(float("nan")) == "-"
    assert fmt(0.123456) == "0.1235" and fmt(0.123456, 2) == "0.12"
    assert fmt(3) == "3" and fmt("x") == "x"
    assert accuracy_cell({"accuracy": 0.96944, "accuracy_std": 0.00161, "seeds": 3}) == (
        "0.9694 ± 0.0016"
    )
    assert accuracy_cell({"accuracy": 0.96944, "accuracy_std": 0.0, "seeds": 1}) == "0.9694"
    assert accuracy_cell({"accuracy": None}) == "-"


def test_markdown_right_aligns_the_numeric_columns():
    text = markdown(("model", "init", "T", "accuracy"), [("a", "b", "4", "0.5")])
    assert text.splitlines() == [
        "| model | init | T | accuracy |",
        "| --- | --- | ---: | ---: |",
        "| a | b | 4 | 0.5 |",
    ]
    assert markdown(("x", "y"), [], numeric_from=1).splitlines()[1] == "| --- | ---: |"


def test_write_outputs_writes_the_triple(tmp_path):
    result = {"rows": [{"row": "a", "accuracy": 0.5}], "nan": float("nan")}
    report = {"title": "T", "meta": {"k": "v"}, "distillation": [{"model": "a"}]}
    write_outputs(tmp_path, result, "| table |", report)
    assert json.loads((tmp_path / "results.json").read_text())["rows"] == result["rows"]
    assert (tmp_path / "results.md").read_text() == "| table |\n"
    html = (tmp_path / "report.html").read_text()
    assert "<html" in html.lower() and "T" in html
    assert not list(tmp_path.glob("*.tmp"))


def test_against_spread_names_each_side_of_the_spread():
    assert against_spread(0.03, 0.02) == "beyond"
    assert against_spread(0.01, 0.02) == "within"
    assert against_spread(-0.02, 0.02) == "within"  # the boundary is inside
    assert against_spread(-0.03, 0.02) == "below by more than"
