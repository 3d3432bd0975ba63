"""``spikeforge bench variants``: the quick run end to end (groups, ratios, machine record)."""

import json

import pytest
import torch

from spikeforge.bench import variants


def test_quick_run_reports_each_neuron_against_its_own_reference(monkeypatch, tmp_path):
    monkeypatch.setitem(variants.QUICK, "T", [4, 8])
    monkeypatch.setitem(variants.QUICK, "N", 64)
    path = tmp_path / "variants.json"
    text = variants.run(quick=True, json_path=str(path))
    data = json.loads(path.read_text())
    assert data["machine"]["torch"] == torch.__version__
    for T in (4, 8):
        rows = {r["neuron"]: r for r in data["rows"] if r["T"] == T}
        for group, reference in variants.GROUPS.items():
            ref = rows[reference]
            assert ref["status"] == "ok" and ref["train_speedup"] == 1.0
            fused = rows[f"{group} (auto: fused)"]
            assert fused["train_speedup"] == pytest.approx(ref["train_ms"] / fused["train_ms"])
            assert fused["infer_speedup"] == pytest.approx(ref["infer_ms"] / fused["infer_ms"])
        peers = [r for r in rows.values() if r["neuron"] not in variants.GROUPS.values()]
        assert all(r["status"] == "ok" or "not installed" in r["status"] for r in peers)
    assert all(f"{group} (auto: fused)" in text for group in variants.GROUPS)


def test_fresh_layers_start_from_rest():
    class Stateful(torch.nn.Module):
        calls = 0

        def reset(self):
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return x * self.calls

    layer = variants._Fresh(Stateful())
    x = torch.ones(2)
    assert torch.equal(layer(x), layer(x))


def test_cuda_without_a_gpu_is_one_line_and_status_2(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert variants.main(["--device", "cuda", "--quick"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a CUDA GPU" in err[0]
