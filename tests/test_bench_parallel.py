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


def _rows(times: dict[str, float], steps=(16, 32, 64)) -> list[dict]:
    return [
        {"neuron": name, "T": T, "status": "ok", "train_ms": ms}
        for T in steps
        for name, ms in times.items()
    ]


def test_family_section_ratios_and_the_two_times_target():
    """Ratios are time(other) / time(ours); the 2x target holds only if every fused PSN
    variant is >= 2x SpikingJelly's PSN at every T in 16, 32, 64."""
    times = {name: 10.0 for name in parallel.FAMILY}
    times.update({sj: 30.0 for sj in parallel.FAMILY.values()}, **{parallel.FUSED_LIF: 5.0})
    text = "\n".join(parallel.family_section(_rows(times), [4, 16, 32, 64]))
    assert "| PSN | 3.00 | 3.00 | 3.00 |" in text  # vs SpikingJelly's PSN
    assert "| PSN | 0.50 | 0.50 | 0.50 |" in text  # vs our fused LIF (2x faster)
    assert "**met** — slowest ratio 3.00×" in text and "T=4" not in text
    slow = _rows(times)
    next(r for r in slow if r["neuron"] == "PSN" and r["T"] == 32)["train_ms"] = 20.0
    assert "**NOT met** — slowest ratio 1.50×" in "\n".join(
        parallel.family_section(slow, [16, 32, 64])
    )
    missing = [r for r in _rows(times) if r["neuron"] != parallel.SJ_PSN]
    assert "**not measured**" in "\n".join(parallel.family_section(missing, [16, 32, 64]))
