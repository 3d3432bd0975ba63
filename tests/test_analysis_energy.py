import json

import pytest
import torch
from torch import nn

from spikeforge.analysis.energy import (
    ENERGY_PRESETS,
    EnergyPreset,
    estimate_energy,
    format_energy,
    get_preset,
)
from spikeforge.analysis.ops import OpCounts, OpRecord, count_operations
from spikeforge.layers import fold
from spikeforge.neurons import IF

T = 4


@pytest.fixture
def counts() -> OpCounts:
    """Per sample: conv 288·T MACs (analog input), linear 96·T dense at input rate 1/4."""
    conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 1, 1] = 1.0
    net = nn.Sequential(fold(conv), IF(backend="torch"), fold(nn.Flatten(), nn.Linear(32, 3)))
    return count_operations(net, torch.full((T, 2, 1, 4, 4), 0.6))


def test_energy_45nm_by_hand(counts):
    report = estimate_energy(counts)  # E_MAC 4.6 pJ, E_AC 0.9 pJ
    conv, linear = report.layers
    assert conv.snn_pj == pytest.approx(4.6 * 288 * T)
    assert linear.snn_pj == pytest.approx(0.9 * 96)  # SOPs = 1/4 · T · 96 = 96
    assert report.snn_pj == pytest.approx(4.6 * 1152 + 0.9 * 96)  # 5385.6 pJ
    # ANN twin: the same net at T = 1, every op a MAC.
    assert conv.ann_pj == pytest.approx(4.6 * 288) and linear.ann_pj == pytest.approx(4.6 * 96)
    assert report.ann_pj == pytest.approx(4.6 * 384)
    assert report.ratio == pytest.approx(1766.4 / 5385.6)


def test_energy_custom_preset_by_hand(counts):
    for preset in ({"e_mac": 2.0, "e_ac": 0.5}, EnergyPreset("mine", 2.0, 0.5)):
        report = estimate_energy(counts, preset=preset)
        assert report.snn_pj == pytest.approx(2.0 * 1152 + 0.5 * 96)  # 2352
        assert report.ann_pj == pytest.approx(2.0 * 384)
    assert get_preset({"e_mac": 2.0, "e_ac": 0.5}).name == "custom"


def test_norm_ops_by_hand(counts):
    report = estimate_energy(counts)
    # IFR of the spiking layer = 1/4 · T = 1 spike per neuron per inference; OPS per step:
    # conv 288, linear 96. Norm#OPS = IFR·OPS_linear / (288 + 96) = 96 / 384.
    assert report.norm_ops == pytest.approx(0.25)
    assert report.spikingbert_ratio == pytest.approx(5.1 / 0.25)


def test_a_model_of_distinct_step_networks_has_a_twin_that_runs_every_step(counts):
    class Columns(nn.Module):  # each step its own sub-network, as T-RevSNN's columns
        distinct_step_networks = True

        def __init__(self):
            super().__init__()
            self.net = nn.Linear(4, 3, bias=False)

        def forward(self, x):
            return self.net(x)

    distinct = count_operations(Columns(), torch.ones(T, 2, 4))
    assert distinct.distinct_steps and not counts.distinct_steps
    report = estimate_energy(distinct)
    assert report.ann_pj == pytest.approx(4.6 * 12 * T)  # 12 MACs per step, all T steps
    assert report.layers[0].ann_pj == pytest.approx(4.6 * 12 * T)


def test_given_ann_counts_replace_the_twin(counts):
    ann = OpCounts([OpRecord("fc", 0, "mm", "MAC", macs=1000, sops=1000, calls=1)], 1, 2)
    report = estimate_energy(counts, ann_counts=ann)
    assert report.ann_pj == pytest.approx(4.6 * 500)
    assert all(layer.ann_pj is None for layer in report.layers)


def test_table_and_dict(counts):
    report = estimate_energy(counts, preset="45nm_int8")
    text = report.table()
    assert "0.layer" in text and "2.layer.1" in text and "total" in text and "Norm#OPS" in text
    d = report.to_dict()
    assert d["preset"] == {"name": "45nm_int8", "e_mac_pj": 0.23, "e_ac_pj": 0.03}
    assert d["layers"][1]["kind"] == "AC" and d["snn_pj"] == pytest.approx(report.snn_pj)
    assert set(ENERGY_PRESETS) >= {"45nm", "45nm_fp32", "45nm_int32", "45nm_int8"}


def test_table_joins_each_accumulate_op_to_the_spiking_layer_feeding_it(counts):
    report = estimate_energy(counts)
    conv, linear = report.layers
    assert (conv.layer, conv.inputs) == ("0.layer", ())
    assert (linear.layer, linear.inputs, linear.index) == ("2.layer.1", ("1",), 0)
    header, _, first, second = report.table().splitlines()[:4]
    assert header.split()[:5] == ["layer", "op", "kind", "inputs", "rate"]
    assert first.split()[3] == "-" and second.split()[3] == "1"  # "1": the IF, as in eval


def ann_report(steps: int = 1):
    ann = nn.Sequential(fold(nn.Linear(6, 5)), fold(nn.ReLU()), fold(nn.Linear(5, 3)))
    with torch.no_grad():  # positive: the ReLU output is analog, never all-zero "spikes"
        for p in ann.parameters():
            p.fill_(0.1)
    return estimate_energy(count_operations(ann, torch.rand(steps, 2, 6)))


def test_an_ann_is_its_own_twin_and_spikingbert_ratio_does_not_apply():
    report = ann_report()
    assert not report.spiking and report.norm_ops == 0
    assert report.ratio == pytest.approx(1.0) and report.snn_pj == pytest.approx(report.ann_pj)
    assert report.spikingbert_ratio is None  # undefined, not inf
    text = report.table()
    assert "inf" not in text and "no spike-driven (AC) operation: an ANN" in text
    assert "ANN/SNN = 1.00x" in text and "do not apply" in text
    data = report.to_dict()
    assert data["spiking"] is False and data["spikingbert_ratio"] is None
    json.dumps(data, allow_nan=False)  # strict JSON: no Infinity


def test_an_snn_whose_spikes_never_reach_a_synapse_has_no_spikingbert_ratio():
    silent = nn.Sequential(fold(nn.Linear(4, 4)), IF(v_th=1e6), fold(nn.Linear(4, 2)))
    report = estimate_energy(count_operations(silent, torch.rand(T, 2, 4)))
    assert report.spiking and report.norm_ops == 0 and report.spikingbert_ratio is None
    assert "no spike reached a synaptic op" in report.table() and "inf" not in report.table()


def test_format_and_validation(counts):
    assert format_energy(12.0) == "12 pJ" and format_energy(1234.0) == "1.23 nJ"
    assert format_energy(2.5e9) == "2.5 mJ"
    with pytest.raises(ValueError, match="unknown energy preset"):
        estimate_energy(counts, preset="7nm")
    with pytest.raises(ValueError, match="e_mac"):
        estimate_energy(counts, preset={"e_mac": 1.0})
    with pytest.raises(ValueError, match="non-negative"):
        EnergyPreset("bad", -1.0, 0.1)
    with pytest.raises(TypeError, match="OpCounts"):
        estimate_energy({"layers": []})  # type: ignore[arg-type]
