"""The LaSNN pipeline's table (``pipelines/lasnn_table.py``) from hand-made stage results:
its rows (converted SNN at the small T and at the T it needs), the verdicts (beats,
margins, how many more steps conversion needs) and the written report."""

from __future__ import annotations

import copy
import json

import pytest

from spikeforge.pipelines.lasnn_table import HEADER, LaSNNTable

TEACHER = {"accuracy": 0.97, "T": 1, "firing_rate": None, "energy_uj": 5.0}
INTERMEDIATE = {"accuracy": 0.95, "T": 1, "firing_rate": None, "energy_uj": 3.0}
CONVERSION = {
    "ann_accuracy": 0.95,
    "small_t": 4,
    "smallest_t_within_1pct": 32,
    "timesteps": {
        "4": {"accuracy": 0.50, "firing_rate": 0.20},
        "8": {"accuracy": 0.80, "firing_rate": 0.18},
        "16": {"accuracy": 0.90, "firing_rate": 0.15},
        "32": {"accuracy": 0.945, "firing_rate": 0.12},
    },
    "energy": {"4": {"energy_uj": 0.5}, "32": {"energy_uj": 2.0}},
}


def _student(accuracy: float, init: str, seconds: float | None = None) -> dict:
    return {"accuracy": accuracy, "T": 4, "init": init, "firing_rate": 0.1, "energy_uj": 0.4,
            "train_seconds": seconds}  # fmt: skip


STUDENTS = {
    "scratch": [_student(0.85, "random", 120.0), _student(0.87, "random", 131.0)],
    "kd": [_student(0.88, "random")],
    "lasnn_activation": [_student(0.91, "converted"), _student(0.93, "converted")],
    "lasnn_gradient": [_student(0.90, "converted")],
}
LABELS = {
    "scratch": "student SNN from scratch",
    "kd": "+ response KD",
    "feature_kd": "+ feature KD",  # no results: no row
    "lasnn_activation": "LaSNN (activation attention)",
    "lasnn_gradient": "LaSNN (gradient attention)",
}


def _table(conversion=None, students=None) -> LaSNNTable:
    return LaSNNTable(TEACHER, INTERMEDIATE, conversion or CONVERSION, students or STUDENTS, LABELS)


def test_rows_in_table_order_with_the_converted_snn_at_both_t():
    rows = _table().rows()
    assert [r["row"] for r in rows] == [
        "teacher ANN",
        "intermediate ANN",
        "converted SNN (T=4)",
        "converted SNN (T=32: within 1% of the ANN)",
        "student SNN from scratch",
        "+ response KD",
        "LaSNN (activation attention)",
        "LaSNN (gradient attention)",
    ]
    by = {r["row"]: r for r in rows}
    teacher = by["teacher ANN"]
    assert (teacher["init"], teacher["T"], teacher["firing_rate"]) == ("-", None, None)
    assert teacher["accuracy"] == 0.97 and teacher["energy_uj"] == 5.0
    small, match = by["converted SNN (T=4)"], by["converted SNN (T=32: within 1% of the ANN)"]
    assert (small["T"], small["accuracy"], small["firing_rate"], small["energy_uj"]) == (
        4, 0.5, 0.2, 0.5,
    )  # fmt: skip
    assert (match["T"], match["accuracy"], match["energy_uj"]) == (32, 0.945, 2.0)
    assert small["init"] == match["init"] == "converted"
    scratch = by["student SNN from scratch"]
    assert scratch["accuracy"] == pytest.approx(0.86) and scratch["seeds"] == 2
    assert scratch["accuracy_std"] == pytest.approx(0.0141421, abs=1e-6)
    assert (scratch["variant"], scratch["init"]) == ("scratch", "random")


def test_a_converted_snn_already_within_1_percent_gets_one_row():
    conversion = copy.deepcopy(CONVERSION) | {"smallest_t_within_1pct": 4}
    rows = [r["row"] for r in _table(conversion).rows() if r["row"].startswith("converted")]
    assert rows == ["converted SNN (T=4) (already within 1% of the ANN)"]


def test_a_converted_snn_never_within_1_percent_shows_its_largest_t():
    conversion = copy.deepcopy(CONVERSION) | {"smallest_t_within_1pct": None}
    rows = [r for r in _table(conversion).rows() if r["row"].startswith("converted")]
    assert [r["row"] for r in rows] == [
        "converted SNN (T=4)",
        "converted SNN (T=32, never within 1% of the ANN)",
    ]
    assert rows[1]["T"] == 32 and rows[1]["energy_uj"] == 2.0


def test_claims_by_hand():
    claims = _table().claims()
    assert claims["lasnn_best"] == "lasnn_activation"  # mean 0.92 beats 0.90
    assert claims["lasnn_accuracy"] == pytest.approx(0.92)
    assert claims["beats_scratch"] is True
    assert claims["margin_over_scratch"] == pytest.approx(0.92 - 0.86)
    assert claims["beats_kd"] is True
    assert claims["margin_over_kd"] == pytest.approx(0.92 - 0.88)
    # spread: the two stds (0.0141 each for two seeds 0.02 apart); kd has one seed
    assert claims["spread_scratch"] == pytest.approx(2 * 0.0141421, abs=1e-6)
    assert claims["beats_scratch_beyond_spread"] is True  # 0.06 > 0.028
    assert claims["beats_kd_beyond_spread"] is None  # one seed: not judged
    assert "beats_feature_kd" not in claims  # no feature-KD rows
    assert "beats_scratch_bn" not in claims  # no BatchNorm baseline rows
    # conversion first reaches 0.92 at T=32, the students run T=4: 8x the steps
    assert claims["conversion_t_for_lasnn_accuracy"] == 32
    assert claims["timestep_reduction"] == 8.0
    assert claims["conversion_max_t"] == 32


def test_the_batchnorm_baseline_is_judged_and_worded_like_every_rival():
    students = {**STUDENTS, "scratch_bn": [_student(0.94, "own"), _student(0.96, "own")]}
    labels = {**LABELS, "scratch_bn": "spiking VGG-small with BN from scratch"}
    table = LaSNNTable(TEACHER, INTERMEDIATE, CONVERSION, students, labels)
    claims = table.claims()
    assert claims["beats_scratch_bn"] is False
    assert claims["margin_over_scratch_bn"] == pytest.approx(0.92 - 0.95)
    assert claims["beats_scratch_bn_beyond_spread"] is False
    text = LaSNNTable.format(_result(table))
    # 0.03 below, the spread 0.0283: below it by more than the spread, not "within"
    assert "does not beat from scratch with BatchNorm (-0.0300; below by more than" in text


def test_the_batchnorm_students_get_verdicts_of_their_own():
    # lasnn_bn is judged against the BatchNorm rivals only, never picked as "the best
    # LaSNN" of the BN-free students (the conversion claim stays theirs)
    students = {
        **STUDENTS,
        "scratch_bn": [_student(0.95, "own"), _student(0.97, "own")],
        "kd_bn": [_student(0.96, "own"), _student(0.96, "own")],
        "lasnn_bn": [_student(0.99, "own"), _student(0.99, "own")],
    }
    labels = {**LABELS, "scratch_bn": "BN scratch", "kd_bn": "BN KD", "lasnn_bn": "BN LaSNN"}
    table = LaSNNTable(TEACHER, INTERMEDIATE, CONVERSION, students, labels)
    claims = table.claims()
    assert claims["lasnn_best"] == "lasnn_activation"
    assert claims["conversion_t_for_lasnn_accuracy"] == 32
    bn = claims["batch_norm"]
    assert bn["lasnn_accuracy"] == pytest.approx(0.99)
    assert bn["margin_over_scratch_bn"] == pytest.approx(0.03)
    assert bn["spread_scratch_bn"] == pytest.approx(0.0141421, abs=1e-6)
    assert bn["beats_scratch_bn_beyond_spread"] is True
    assert bn["margin_over_kd_bn"] == pytest.approx(0.03) and bn["beats_kd_bn"] is True
    assert "beats_kd" not in bn and "beats_scratch" not in bn
    text = LaSNNTable.format(_result(table))
    assert "LaSNN with BatchNorm (lasnn_bn) accuracy 0.9900; beats from scratch with " in text
    assert "beats response KD with BatchNorm (+0.0300; beyond the seeds' spread 0.0000)" in text
    # the same rows with LaSNN trailing by more than the spreads: said so, not "within"
    students["lasnn_bn"] = [_student(0.90, "own"), _student(0.92, "own")]
    text = LaSNNTable.format(
        _result(LaSNNTable(TEACHER, INTERMEDIATE, CONVERSION, students, labels))
    )
    assert ("does not beat response KD with BatchNorm (-0.0500; below by more than the "
            "seeds' spread 0.0141)") in text  # fmt: skip


def test_claims_when_lasnn_loses_and_conversion_never_reaches_it():
    students = copy.deepcopy(STUDENTS)
    students["lasnn_activation"] = [_student(0.96, "converted")]
    students["kd"] = [_student(0.97, "random")]
    claims = _table(students=students).claims()
    assert claims["beats_kd"] is False and claims["margin_over_kd"] == pytest.approx(-0.01)
    assert claims["beats_scratch"] is True
    assert claims["conversion_t_for_lasnn_accuracy"] is None
    assert claims["timestep_reduction"] is None and claims["conversion_max_t"] == 32
    no_lasnn = {k: v for k, v in STUDENTS.items() if not k.startswith("lasnn")}
    assert _table(students=no_lasnn).claims() == {}


def _result(table: LaSNNTable) -> dict:
    return {"dataset": "digits", "timesteps": 4, "seeds": 2, "rows": table.rows(),
            "claims": table.claims(), "conversion": table.conversion}  # fmt: skip


def test_format_writes_the_table_and_the_verdict():
    text = LaSNNTable.format(_result(_table()))
    lines = text.splitlines()
    assert lines[0] == "| " + " | ".join(HEADER) + " |"
    assert lines[1] == "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    assert "| teacher ANN | - | - | 0.9700 | - | 5.00000 | - | 1 |" in lines
    assert (  # train s: the mean of the seeds' 120 and 131 s
        "| student SNN from scratch | random | 4 | 0.8600 ± 0.0141 | 0.1000 | 0.40000 | 126 | 2 |"
        in lines
    )
    assert lines[-1] == (
        "LaSNN (lasnn_activation) accuracy 0.9200; beats from scratch (+0.0600; beyond the "
        "seeds' spread 0.0283); beats response KD (+0.0400; one seed: spread not judged); "
        "conversion needs T=32 for it (8x more steps)"
    )
    students = copy.deepcopy(STUDENTS)
    students["kd"] = [_student(0.97, "random")]
    students["lasnn_activation"] = [_student(0.96, "converted")]
    losing = LaSNNTable.format(_result(_table(students=students))).splitlines()[-1]
    assert "does not beat response KD (-0.0100; one seed: spread not judged)" in losing
    assert losing.endswith("conversion does not reach it by T=32")
    plain = _result(_table()) | {"claims": {}}
    assert LaSNNTable.format(plain).splitlines()[-1].startswith("| LaSNN (gradient attention) |")


def test_write_puts_the_table_json_and_report_in_the_run_directory(tmp_path):
    table = _table()
    result = _result(table)
    table.write(tmp_path, result)
    assert (tmp_path / "results.md").read_text() == LaSNNTable.format(result) + "\n"
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [r["row"] for r in saved["rows"]] == [r["row"] for r in result["rows"]]
    html = (tmp_path / "report.html").read_text()
    assert "LaSNN pipeline on digits" in html and "LaSNN (activation attention)" in html


def test_write_draws_the_figures_into_the_report_and_saves_them_as_files(tmp_path):
    from spikeforge.pipelines.lasnn_report import energy_figure

    table = _table()
    result = _result(table)
    written = table.write(tmp_path, result, [energy_figure(result["rows"])])
    html = (tmp_path / "report.html").read_text()
    assert "<h2>Accuracy vs energy per inference</h2>" in html
    assert html.count('class="point"') == sum(1 for r in result["rows"] if r["energy_uj"])
    assert table.write(tmp_path / "plain", result) == []  # no figures: no files
    assert not (tmp_path / "plain" / "figures").exists()
    pytest.importorskip("matplotlib")
    assert sorted(p.name for p in written) == ["accuracy_vs_energy.pdf", "accuracy_vs_energy.png"]
    assert all(p.parent == tmp_path / "figures" for p in written)


def test_students_at_extra_t_get_their_own_rows_and_leave_the_verdicts_alone():
    at_two = {"scratch": [{**_student(0.70, "random"), "T": 2}],
              "lasnn_activation": [{**_student(0.99, "converted"), "T": 2}]}  # fmt: skip
    table = LaSNNTable(TEACHER, INTERMEDIATE, CONVERSION, STUDENTS, LABELS, {2: at_two})
    rows = table.rows()
    extra = [r for r in rows if r.get("extra")]
    assert [(r["row"], r["T"]) for r in extra] == [
        ("student SNN from scratch (T=2)", 2), ("LaSNN (activation attention) (T=2)", 2),
    ]  # fmt: skip
    assert rows[: len(rows) - 2] == _table().rows()  # the main rows unchanged, first
    assert table.claims() == _table().claims()  # 0.99 at T=2 does not become "the best"
