import csv
import json

from spikeforge.engine.run_log import RunLog


def test_append_and_rewrite_keep_jsonl_and_csv_in_step(tmp_path):
    log = RunLog(tmp_path)
    records = [{"epoch": e, "test_acc": e / 10, "firing_rates": {"1": 0.1}} for e in (1, 2, 3)]
    for r in records:
        log.append(r)
    log.rewrite(records[:2])  # as after resuming from the epoch-2 checkpoint
    assert [
        json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()
    ] == records[:2]
    with (tmp_path / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"] and "firing_rates" not in rows[0]
