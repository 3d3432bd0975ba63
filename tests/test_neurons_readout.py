import pytest
import torch

from spikeforge.neurons import LI


def test_readout_returns_membrane_not_spikes():
    v = LI(tau=None)(torch.full((3, 1, 1), 2.0))
    assert v.flatten().tolist() == [2.0, 4.0, 6.0]


def test_bad_tau():
    with pytest.raises(ValueError, match="tau must be >= 1 or None"):
        LI(tau=0.5)


def test_non_finite_tau_is_refused():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="tau must be a finite number"):
            LI(tau=bad)
