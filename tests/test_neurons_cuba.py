import pytest
import torch

from spikeforge.neurons import LIF, CuBa


def test_cuba_without_synaptic_memory_is_leaky_lif():
    x = torch.rand(10, 2, 3) * 2
    torch.testing.assert_close(CuBa(alpha=0.0)(x), LIF(decay_input=False)(x))


def test_synaptic_current_keeps_driving_after_input_stops():
    x = torch.zeros(6, 1, 1)
    x[0] = 0.9
    assert CuBa(alpha=0.9)(x).sum() >= 1  # the current outlives the input pulse
    assert LIF(decay_input=False)(x).sum() == 0


def test_non_finite_parameters_are_refused():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="alpha \\(synaptic decay\\) must lie in \\[0, 1\\]"):
            CuBa(alpha=bad)
        with pytest.raises(ValueError, match="v_th must be a finite number"):
            CuBa(v_th=bad)
