import pytest
import torch

from spikeforge.functional.reset import apply_reset, fire
from spikeforge.surrogates import ATan


def test_fire_compares_against_threshold_inclusively():
    h = torch.tensor([0.5, 1.0, 1.5])
    assert fire(h, 1.0, ATan()).tolist() == [0.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("mode", "expected"), [("zero", [0.3, -0.2]), ("subtract", [0.3, 0.5]), ("none", [0.3, 1.5])]
)
def test_reset_values(mode, expected):
    h = torch.tensor([0.3, 1.5])
    s = torch.tensor([0.0, 1.0])
    out = apply_reset(h, s, mode, v_th=1.0, v_reset=-0.2, detach_reset=False)
    torch.testing.assert_close(out, torch.tensor(expected))


def test_detach_reset_changes_only_the_reset_path_gradient():
    sur = ATan()
    h = torch.tensor([0.4, 1.3], dtype=torch.float64, requires_grad=True)
    g = sur.derivative(h.detach() - 1.0)
    s_values = (h.detach() >= 1.0).double()
    for detach, expected in [
        (True, 1 - s_values),  # dV/dH = 1 - S: the spike is a constant in the reset
        (False, 1 - s_values - (h.detach() - 0.0) * g),  # plus the path through S(H)
    ]:
        v = apply_reset(h, fire(h, 1.0, sur), "zero", 1.0, 0.0, detach)
        (grad,) = torch.autograd.grad(v.sum(), h)
        torch.testing.assert_close(grad, expected)
    for detach in (True, False):
        v = apply_reset(h, fire(h, 1.0, sur), "none", 1.0, 0.0, detach)
        (grad,) = torch.autograd.grad(v.sum(), h)
        torch.testing.assert_close(grad, torch.ones_like(h))  # no reset path to detach


def test_unknown_mode_raises():
    with pytest.raises(ValueError, match="reset must be one of"):
        apply_reset(torch.zeros(1), torch.zeros(1), "hard", 1.0, 0.0, False)
