"""``spikeforge bench spikingbert_steps`` (``bench/spikingbert_steps.py``): registered with
help, the stage estimate's arithmetic, and a ``--quick`` run on the small teacher that
writes files only with ``--out``."""

import json
import math

import pytest

from spikeforge.bench import spikingbert_steps as bench
from spikeforge.cli import BENCHMARKS, main
from spikeforge.data.paths import find_shared_data

SHARED = find_shared_data()
pytestmark = pytest.mark.usefixtures("one_thread")


def test_is_registered_and_has_help(capsys):
    assert BENCHMARKS["spikingbert_steps"] == "spikeforge.bench.spikingbert_steps"
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "spikingbert_steps", "--help"])
    assert exit_info.value.code == 0
    assert "--quick" in capsys.readouterr().out


def rows():
    return [
        {"stage": "teacher", "real_wall_s": 0.6},
        {"stage": "scratch", "real_wall_s": 0.12},
        {"stage": "internal_kd", "real_wall_s": 0.3},
        {"stage": "prediction_kd", "real_wall_s": 0.24},
    ]


def test_the_estimate_is_steps_times_step_times_epochs():
    measured = rows()
    epochs = dict(zip(bench.STAGES, [1, 2, 3, 4, 5], strict=True))
    out = bench.estimate(measured, epochs, batch_size=10, seeds=3, train_phrases=995)
    assert out["steps_per_epoch"] == math.ceil(995 / 10) == 100
    assert out["teacher_min"] == pytest.approx(100 * 0.6 * 1 / 60)  # 1.0 min
    # per seed: scratch 2 epochs, prediction-only 5, internal 3, prediction after it 4
    per_seed = 100 * (0.12 * 2 + 0.24 * 5 + 0.3 * 3 + 0.24 * 4) / 60
    assert out["students_per_seed_min"] == pytest.approx(per_seed)
    assert out["total_min"] == pytest.approx(1.0 + 3 * per_seed)
    assert measured[3]["epochs"] == 4 and measured[3]["stage_min"] == pytest.approx(1.6)
    assert bench.estimate(rows(), epochs, 32, 1)["steps_per_epoch"] == 2105  # SST-2 train


@pytest.mark.skipif(
    SHARED is None or not (SHARED / "sst2").is_dir(), reason="shared SST-2 files absent"
)
def test_quick_run_times_every_step_and_writes_only_with_out(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["--teacher", "small", "--quick", "--seeds", "2"]
    assert bench.main(args) == 0
    assert "| internal-layer KD |" in capsys.readouterr().out
    assert not any(tmp_path.iterdir())  # nothing written without --out
    assert bench.main([*args, "--out", "res"]) == 0
    result = json.loads((tmp_path / "res" / "spikingbert_steps.json").read_text())
    assert [r["step"] for r in result["rows"]] == list(bench.KINDS)
    for row in result["rows"]:
        assert row["full_wall_s"] > 0 and row["real_cpu_s"] > 0
    assert len(result["real_batch_lengths"]) == 2 and result["meta"]["batch_size"] == 4
    assert result["estimate"]["steps_per_epoch"] == math.ceil(67349 / 4)
    assert result["meta"]["seeds"] == 2 and result["meta"]["student"]["t_conv"] == 4
    assert "--quick" in result["meta"]["command"]
    assert (tmp_path / "res" / "spikingbert_steps.md").read_text().startswith("# SpikingBERT")
