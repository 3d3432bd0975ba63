"""``bench/allocator.py``: the measurement in a process and the table it writes."""

import pytest

from spikeforge.bench import allocator as bench

TINY = {"batch": 2, "timesteps": 4, "warmup": 1, "steps": 2, "repeats": 1}


@pytest.mark.parametrize("net", list(bench.NETS))
def test_a_default_measurement_trains_each_net_and_counts(net, one_thread):
    out = bench.measure_case(TINY, {"net": net, "allocator": "default"})
    assert out["seconds"] > 0 and out["faults_per_step"] >= 0 and out["peak_rss_mib"] > 50


def test_the_table_gives_each_setting_its_time_against_the_default():
    meta = {
        "command": "spikeforge bench allocator", "date": "d", "platform": "p", "cpu_count": 2,
        "torch": "t", "threads": 1, "settings": TINY, "load_average_start": (0.1, 0, 0),
        "load_average_end": (0.2, 0, 0),
    }  # fmt: skip
    rows = [
        {"net": "n", "allocator": "default", "seconds": 2.0, "faults_per_step": 70000.0,
         "peak_rss_mib": 500.0},
        {"net": "n", "allocator": "keep_freed_memory", "seconds": 1.5, "faults_per_step": 3.0,
         "peak_rss_mib": 501.0},
        {"net": "m", "allocator": "default", "failed": "boom"},
    ]  # fmt: skip
    text = bench.markdown({"meta": meta, "rows": rows})
    assert "| n | keep_freed_memory | 1.500 | 3 | 501 | 0.75× |" in text
    assert "| n | default | 2.000 | 70,000 | 500 | 1.00× |" in text
    assert "| m | default | failed: boom |" in text


def test_help_and_bad_threads(capsys):
    with pytest.raises(SystemExit) as info:
        bench.main(["--help"])
    assert info.value.code == 0 and "page faults" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        bench.main(["--threads", "0"])
    assert info.value.code == 2
