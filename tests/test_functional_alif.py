import pytest
import torch

from spikeforge.functional import ALIFParameters, LIFParameters, alif_sequence, lif_sequence

F64 = torch.float64


def test_alif_golden_and_threshold_rises_after_spikes():
    # tau=2, b=.5, rho=.5, subtract reset by the adaptive threshold; x = 2, 2, 2.
    # t0: θ=1, H=1 -> spike, V=0, a=1. t1: θ=1.5, H=1 -> none, V=1, a=.5.
    # t2: θ=1.25, H=1.5 -> spike, V=.25, a=1.25.
    p = ALIFParameters(lif=LIFParameters(inv_tau=0.5, reset="subtract"), b=0.5, rho=0.5)
    x = torch.full((3, 1), 2.0, dtype=F64)
    spikes, state = alif_sequence(x, None, p)
    assert spikes.flatten().tolist() == [1.0, 0.0, 1.0]
    assert state.v.item() == pytest.approx(0.25)
    assert state.a.item() == pytest.approx(1.25)
    plain, _ = lif_sequence(x, None, LIFParameters(inv_tau=0.5, reset="subtract"))
    assert plain.sum() > spikes.sum()  # without adaptation it fires every step


def test_alif_streaming_equals_one_call(generator):
    x = torch.randn(10, 2, 3, dtype=F64, generator=generator) * 2
    whole, final = alif_sequence(x)
    a, mid = alif_sequence(x[:4])
    b, final2 = alif_sequence(x[4:], mid)
    assert torch.equal(torch.cat([a, b]), whole)
    torch.testing.assert_close(final2.a, final.a)


def test_alif_rejects_bad_rho():
    with pytest.raises(ValueError, match="rho"):
        ALIFParameters(rho=1.5)


def test_parameters_refuse_non_finite_numbers():
    with pytest.raises(ValueError, match="b \\(adaptation strength\\) must be a finite number"):
        ALIFParameters(b=float("nan"))
    with pytest.raises(ValueError, match="rho"):
        ALIFParameters(rho=float("nan"))
