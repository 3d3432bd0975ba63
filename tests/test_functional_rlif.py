import pytest
import torch

from spikeforge.functional import LIFParameters, RLIFParameters, rlif_sequence

F64 = torch.float64


def test_one_to_one_golden():
    # w = .5, tau = 2: t0 H = 1 spike -> 0 ; t1 input .6 + .5 = 1.1, H = .55 ; t2 H = .275
    p = RLIFParameters(weight=torch.tensor([0.5], dtype=F64), lif=LIFParameters(inv_tau=0.5))
    x = torch.tensor([2.0, 0.6, 0.0], dtype=F64).view(3, 1, 1)
    spikes, state = rlif_sequence(x, None, p)
    assert spikes.flatten().tolist() == [1.0, 0.0, 0.0]
    assert state.v.item() == pytest.approx(0.275)


def test_all_to_all_routes_spikes_through_the_matrix():
    # Neuron 0 receives neuron 1's previous spike (W[0, 1] = 1), IF dynamics.
    w = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=F64)
    p = RLIFParameters(weight=w, lif=LIFParameters(charge="if"))
    x = torch.tensor([[[0.0, 1.0]], [[0.5, 0.0]], [[0.0, 0.0]]], dtype=F64)
    spikes, _ = rlif_sequence(x, None, p)
    # t0: neuron 1 fires; t1: neuron 0 gets .5 + 1 -> fires; t2: nothing.
    assert spikes[:, 0].tolist() == [[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]


def test_recurrent_weight_receives_gradient_and_streaming(generator):
    w = (torch.randn(4, 4, dtype=F64, generator=generator) * 0.5).requires_grad_()
    p = RLIFParameters(weight=w)
    x = torch.rand(8, 3, 4, dtype=F64, generator=generator) * 3
    spikes, final = rlif_sequence(x, None, p)
    spikes.sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0
    a, mid = rlif_sequence(x[:5], None, p)
    b, final2 = rlif_sequence(x[5:], mid, p)
    assert torch.equal(torch.cat([a, b]), spikes)
    torch.testing.assert_close(final2.s, final.s)


def test_shape_errors():
    with pytest.raises(ValueError, match="square"):
        RLIFParameters(weight=torch.zeros(2, 3))
    p = RLIFParameters(weight=torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"expects steps of shape \[B, 3\]"):
        rlif_sequence(torch.zeros(2, 4, 5), None, p)
