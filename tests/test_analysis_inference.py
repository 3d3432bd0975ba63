"""measure_inference: energy and firing rate of one inference."""

import pytest
import torch
from torch import nn

from spikeforge.analysis import count_operations, measure_inference
from spikeforge.analysis.ops import AC, MAC
from spikeforge.layers import fold
from spikeforge.neurons import IF


def test_ann_has_no_firing_rate_and_costs_its_macs():
    model = fold(nn.Linear(6, 4, bias=False))
    result = measure_inference(model, torch.rand(1, 5, 6) + 0.1)
    assert result["firing_rate"] is None
    assert result["mac_ops_per_sample"] == 24 and result["ac_ops_per_sample"] == 0
    assert result["energy_uj"] == pytest.approx(24 * 4.6e-6)  # 4.6 pJ per MAC (45 nm)


def test_firing_rate_is_all_spikes_over_all_neuron_steps():
    model = nn.Sequential(IF(v_th=1.0, backend="torch"), fold(nn.Linear(3, 2, bias=False)))
    x = torch.tensor([[[1.0, 0.0, 0.2]], [[1.0, 0.0, 0.9]]])  # [T=2, B=1, 3]
    result = measure_inference(model, x)
    # IF: neuron 0 fires at t=0,1; neuron 2 charges 0.2 then 1.1 -> fires at t=1.
    assert result["firing_rate"] == 3 / 6
    assert result["ac_ops_per_sample"] == 3 * 2 and result["mac_ops_per_sample"] == 0
    assert result["energy_uj"] == pytest.approx(6 * 0.9e-6)


def test_converted_snn_energy_counts_accumulates_after_the_first_layer():
    from spikeforge.methods.conversion import convert
    from spikeforge.models import create

    torch.manual_seed(0)
    ann = create("ann_csnn_tiny", widths=(4, 8), batch_norm=False, bias=False)
    images = torch.rand(32, 1, 8, 8)
    snn = convert(ann, images, "max")
    inputs = images[:8].unsqueeze(0).expand(6, -1, -1, -1, -1)
    counts = count_operations(snn.eval(), inputs)
    # Spikes carry λ and later layers see them average-pooled: still accumulates.
    assert [r.kind for r in counts.records] == [MAC] + [AC] * (len(counts.records) - 1)
    assert len(counts.records) >= 3
    result = measure_inference(snn, inputs)
    assert result["mac_ops_per_sample"] == counts.records[0].macs / 8
    assert 0 < result["ac_ops_per_sample"] < counts.total_macs - counts.records[0].macs / 8
    assert 0 < result["firing_rate"] < 1
