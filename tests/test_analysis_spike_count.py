"""``analysis/spike_count.py``: the same counts as ``torch.count_nonzero``, edge values
included, for every float width and for what falls back."""

import pytest
import torch

from spikeforge.analysis.spike_count import _PIECE, count_spikes, count_spikes_per_step


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_counts_equal_count_nonzero_with_signed_zeros_nan_inf_and_tiny_values(dtype):
    generator = torch.Generator().manual_seed(0)
    # more than one piece, and a last piece that is not full
    x = (torch.rand(3 * _PIECE + 17, generator=generator) < 0.15).to(dtype)
    x[:6] = torch.tensor([-0.0, 0.0, float("nan"), float("-inf"), -1.0, 0.5]).to(dtype)
    x[-1] = torch.finfo(dtype).tiny / 2  # a subnormal: non-zero
    x[-2] = -torch.finfo(dtype).tiny / 2
    expected = int(torch.count_nonzero(x))
    assert count_spikes(x) == expected
    assert count_spikes(x.reshape(-1, 1)) == expected  # any shape
    assert count_spikes(-x) == expected  # the sign never matters


def test_falls_back_for_integers_bools_and_strided_views():
    x = torch.tensor([[0, 3, 0], [1, 0, -2]])
    assert count_spikes(x) == 3 and count_spikes(x.bool()) == 3
    y = torch.tensor([[0.0, 1.0, -0.0], [2.0, 0.0, 0.0]])
    assert count_spikes(y.t()) == 2  # non-contiguous


def test_per_step_counts_each_step():
    x = torch.zeros(3, 2, 4)
    x[0, 0, :2] = 1.0
    x[2] = 0.7
    x[1, 1, 3] = -0.0
    assert count_spikes_per_step(x).tolist() == [2.0, 0.0, 8.0]
    assert count_spikes_per_step(x).dtype == torch.float64
