"""``spikeforge bench evaluation`` (``bench/evaluation.py``): each measurement in a
process, the property each row reports, and the table it writes."""

import pytest

from spikeforge.bench import evaluation as bench
from spikeforge.cli import BENCHMARKS, main

TINY = {**bench.QUICK, "images": 6, "conversion_images": 6}


def test_is_registered_and_has_help(capsys):
    assert BENCHMARKS["evaluation"] == "spikeforge.bench.evaluation"
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "evaluation", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--quick" in out and "--out" in out
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--threads", "0"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize("net", list(bench.NETS))
def test_evaluate_case_runs_the_trainers_evaluation_at_any_batch_size(net, one_thread):
    # 6 images in batches of 4 (a short last batch) and of 6 score the same accuracy
    outs = [bench.evaluate_case(TINY, {"net": net, "eval_batch_size": b}) for b in (4, 6)]
    assert all(o["seconds"] > 0 for o in outs)
    assert outs[0]["accuracy"] == outs[1]["accuracy"]
    assert 0.0 <= outs[0]["accuracy"] <= 1.0


def test_conversion_case_gives_the_same_curve_for_every_piece(one_thread):
    settings = {**TINY, "horizon": 6}
    pieces = ([6, 6], [4, 4], [2, 1])
    curves = [bench.conversion_case(settings, {"piece": p})["curve"] for p in pieces]
    # T = 1, 2, 4, 6: accuracy and firing rate at each
    assert len(curves[0]) == 4 and curves[0] == curves[1] == curves[2]
    assert all(0.0 < rate < 1.0 for _, rate in curves[0])


def test_counting_case_times_five_ways_that_agree(one_thread):
    out = bench.counting_case({"steps": 1}, {})
    assert out.pop("agree") is True
    assert len(out) == 5 and all(seconds > 0 for seconds in out.values())


def test_the_table_gives_each_row_its_time_against_the_largest_size():
    meta = {
        "command": "spikeforge bench evaluation", "date": "d", "platform": "p", "cpu_count": 2,
        "torch": "t", "threads": 1, "settings": bench.FULL, "load_average_start": (0.1, 0, 0),
        "load_average_end": (0.2, 0, 0),
    }  # fmt: skip
    rows = {
        "evaluate": [
            {"net": "n", "eval_batch_size": 100, "seconds": 1.5},
            {"net": "n", "eval_batch_size": 500, "seconds": 3.0},
            {"net": "m", "eval_batch_size": 500, "failed": "boom"},
        ],
        "conversion": [
            {"samples": 256, "steps": 32, "seconds": 20.0, "same_curve": True},
            {"samples": 64, "steps": 8, "seconds": 8.0, "same_curve": False},
        ],
        "counting": [{"whole: a": 0.04, "whole: b": 0.2, "agree": True}],
    }
    text = bench.markdown({"meta": meta, "rows": rows})
    assert "| n | 100 | 1.50 | 0.50× |" in text and "| n | 500 | 3.00 | 1.00× |" in text
    assert "| m | 500 | failed: boom | - |" in text
    assert "| 64 × 8 | 8.00 | 0.40× | NO |" in text and "| 256 × 32 | 20.00 | 1.00× | yes |" in text
    assert "| `whole: a` | 40.0 |" in text and "Counts agree: yes." in text
