"""The first-order linear scans of functional/leaky.py against their definitions."""

import pytest
import torch

from spikeforge.functional.leaky import (
    LeakyParameters,
    leaky_of_lif,
    leaky_scan,
    leaky_scan_reference,
    leaky_update,
)
from spikeforge.functional.lif import LIFParameters, lif_charge

F64 = torch.float64


def test_decay_form_by_hand():
    # y = 0.5 y + x from 0: x = 1, 1, 1, 0 -> 1, 1.5, 1.75, 0.875
    x = torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=F64).view(4, 1)
    y, last = leaky_scan(x, torch.zeros(1, dtype=F64), LeakyParameters("decay", 0.5))
    assert y.flatten().tolist() == [1.0, 1.5, 1.75, 0.875]
    assert last.item() == 0.875


@pytest.mark.parametrize(
    "lif",
    [
        LIFParameters(charge="if", v_reset=0.3),
        LIFParameters(inv_tau=0.3, v_reset=-0.2),
        LIFParameters(inv_tau=0.3, v_reset=-0.2, decay_input=False),
    ],
    ids=["if", "lif", "lif-no-decay"],
)
def test_lif_forms_are_the_lif_charge_bit_for_bit(lif, generator):
    v, x = torch.randn(2, 50, generator=generator)
    assert torch.equal(leaky_update(v, x, leaky_of_lif(lif)), lif_charge(v, x, lif))


def test_trajectory_and_final_state_and_streaming(generator):
    x = torch.randn(7, 2, 3, dtype=F64, generator=generator)
    p = LeakyParameters("lif_no_decay", 0.25, 0.1)
    y, last = leaky_scan_reference(x, torch.zeros(2, 3, dtype=F64), p)
    assert y.shape == x.shape and torch.equal(last, y[-1])
    a, mid = leaky_scan_reference(x[:3], torch.zeros(2, 3, dtype=F64), p)
    b, _ = leaky_scan_reference(x[3:], mid, p)
    assert torch.equal(torch.cat([a, b]), y)


def test_bad_parameters_and_shapes_are_named():
    with pytest.raises(ValueError, match="form"):
        LeakyParameters("exp")
    with pytest.raises(ValueError, match="coef"):
        LeakyParameters("decay", 1.5)
    with pytest.raises(ValueError):
        leaky_scan(torch.zeros(3, 2, 4), torch.zeros(2, 5), LeakyParameters())


def test_parameters_refuse_non_finite_numbers():
    with pytest.raises(ValueError, match="coef"):
        LeakyParameters(coef=float("nan"))
    with pytest.raises(ValueError, match="rest must be a finite number"):
        LeakyParameters(rest=float("-inf"))
