"""``spikeforge bench parallel``: the quick run end to end (ratios, rows, machine record)."""

import json

import pytest
import torch

from spikeforge.bench import parallel


def test_quick_run_reports_every_neuron_against_the_reference(monkeypatch, tmp_path):
    monkeypatch.setitem(parallel.QUICK, "T", [4, 8])
    monkeypatch.setitem(parallel.QUICK, "N", 64)
    path = tmp_path / "par.json"
    text = parallel.run(quick=True, json_path=str(path))
    data = json.loads(path.read_text())
    assert data["machine"]["torch"] == torch.__version__ and data["machine"]["cores"] >= 1
    ours = [name for name, _ in parallel._ours()]
    for T in (4, 8):
        rows = {r["neuron"]: r for r in data["rows"] if r["T"] == T}
        assert set(ours) <= set(rows)
        ref = rows[parallel.REFERENCE]
        assert ref["train_speedup"] == 1.0 and ref["infer_speedup"] == 1.0
        for name in ours:
            r = rows[name]
            assert r["status"] == "ok" and r["train_ms"] > 0
            # the ratio is the reference's time over this neuron's
            assert r["train_speedup"] == pytest.approx(ref["train_ms"] / r["train_ms"])
    assert "Target" in text and parallel.REFERENCE in text
