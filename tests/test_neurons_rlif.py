import pytest
import torch

from spikeforge.neurons import LIF, RLIF


def test_zero_recurrence_is_plain_lif():
    neuron = RLIF(3, all_to_all=True)
    with torch.no_grad():
        neuron.recurrent_weight.zero_()
    x = torch.rand(8, 2, 3) * 3
    torch.testing.assert_close(neuron(x), LIF()(x))


def test_features_validated():
    with pytest.raises(ValueError, match="features must be a positive int"):
        RLIF(0)
    with pytest.raises(ValueError, match="one-to-one recurrence"):
        RLIF(4)(torch.zeros(2, 3, 5))
