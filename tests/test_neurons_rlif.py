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


def test_non_finite_parameters_are_refused():
    with pytest.raises(ValueError, match="tau must be a finite number, got nan"):
        RLIF(4, tau=float("nan"))
    with pytest.raises(ValueError, match="v_th must be a finite number, got inf"):
        RLIF(4, v_th=float("inf"))
