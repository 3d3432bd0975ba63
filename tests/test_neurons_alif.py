import torch

from spikeforge.neurons import ALIF, LIF


def test_alif_fires_less_than_lif_under_constant_drive():
    x = torch.full((50, 1, 3), 1.5)
    assert ALIF(b=0.5, rho=0.95)(x).sum() < LIF(reset="subtract")(x).sum()


def test_alif_without_adaptation_is_lif():
    x = torch.rand(10, 2, 3) * 3
    torch.testing.assert_close(ALIF(b=0.0, reset="zero")(x), LIF(reset="zero")(x))
