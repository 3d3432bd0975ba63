import pytest
import torch

from spikeforge.functional import CuBaParameters, cuba_sequence

F64 = torch.float64


def test_cuba_golden():
    # alpha = .5, beta = .5 (U = .5 U + I), hard reset; x = 1, 0, 0, 1.
    # I: 1, .5, .25, 1.125 ; H: 1 (spike) -> 0, .5, .5, 1.375 (spike) -> 0
    x = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=F64).view(4, 1)
    spikes, state = cuba_sequence(x, None, CuBaParameters(alpha=0.5))
    assert spikes.flatten().tolist() == [1.0, 0.0, 0.0, 1.0]
    assert state.i.item() == pytest.approx(1.125)
    assert state.v.item() == pytest.approx(0.0)
    _, mid = cuba_sequence(x[:3], None, CuBaParameters(alpha=0.5))
    assert mid.v.item() == pytest.approx(0.5)


def test_cuba_streaming_equals_one_call(generator):
    x = torch.randn(9, 2, 4, dtype=F64, generator=generator)
    whole, final = cuba_sequence(x)
    a, mid = cuba_sequence(x[:3])
    b, final2 = cuba_sequence(x[3:], mid)
    assert torch.equal(torch.cat([a, b]), whole)
    torch.testing.assert_close(final2.i, final.i)


def test_cuba_rejects_bad_alpha():
    with pytest.raises(ValueError, match="alpha"):
        CuBaParameters(alpha=-0.1)
