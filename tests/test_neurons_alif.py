import pytest
import torch

from spikeforge.neurons import ALIF, LIF


def test_alif_fires_less_than_lif_under_constant_drive():
    x = torch.full((50, 1, 3), 1.5)
    assert ALIF(b=0.5, rho=0.95)(x).sum() < LIF(reset="subtract")(x).sum()


def test_alif_without_adaptation_is_lif():
    x = torch.rand(10, 2, 3) * 3
    torch.testing.assert_close(ALIF(b=0.0, reset="zero")(x), LIF(reset="zero")(x))


def test_non_finite_adaptation_parameters_are_refused():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="b \\(adaptation strength\\) must be a finite number"):
            ALIF(b=bad)
        with pytest.raises(ValueError, match="rho \\(adaptation decay\\) must lie in \\[0, 1\\]"):
            ALIF(rho=bad)
        with pytest.raises(ValueError, match="tau must be a finite number"):
            ALIF(tau=bad)
