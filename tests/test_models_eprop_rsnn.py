"""e-prop: forward-in-time gradients of a recurrent LIF layer, exact where the paper says."""

import pytest
import torch
import torch.nn.functional as F

from spikeforge.models import create
from spikeforge.models.eprop_rsnn import EpropRSNN

T, B = 12, 4


def _net(recurrent: bool, feedback: str = "symmetric") -> EpropRSNN:
    torch.manual_seed(0)
    net = EpropRSNN(5, 7, 3, tau=4.0, tau_out=3.0, v_th=0.5, recurrent=recurrent,
                    feedback=feedback)  # fmt: skip
    return net.double()


def _data():
    g = torch.Generator().manual_seed(1)
    x = 1.5 * torch.rand(T, B, 5, generator=g, dtype=torch.float64)
    return x, torch.tensor([0, 1, 2, 1])


def _bptt(net: EpropRSNN, x, labels, loss="ce", targets=None) -> dict[str, torch.Tensor]:
    net.zero_grad()
    y = net(x)
    if loss == "ce":
        value = F.cross_entropy(y.flatten(0, 1), labels.repeat(T))
    else:
        value = 0.5 * (y - targets).square().mean()
    value.backward()
    return {n: p.grad.clone() for n, p in net.named_parameters()}


def _eprop(net: EpropRSNN, x, labels, loss="ce") -> dict[str, torch.Tensor]:
    net.zero_grad(set_to_none=True)
    net.eprop_gradients(x, labels, loss)
    return {n: p.grad.clone() for n, p in net.named_parameters()}


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_without_recurrent_weights_symmetric_eprop_is_the_exact_gradient(loss):
    net = _net(recurrent=False)
    x, labels = _data()
    targets = torch.rand(T, B, 3, generator=torch.Generator().manual_seed(2), dtype=x.dtype)
    spikes = [z for _, z, _ in net.steps(x)]
    assert 0.05 < torch.stack(spikes).mean() < 0.95  # the layer fires: ψ and z matter
    exact = _bptt(net, x, labels, loss, targets)
    ours = _eprop(net, x, targets if loss == "mse" else labels, loss)
    for name in exact:
        assert torch.allclose(ours[name], exact[name], rtol=1e-10, atol=1e-13), name


def test_with_recurrence_or_random_feedback_only_the_readout_stays_exact():
    x, labels = _data()
    recurrent = _net(recurrent=True)
    exact, ours = _bptt(recurrent, x, labels), _eprop(recurrent, x, labels)
    for name in ("w_out", "b_out"):
        assert torch.allclose(ours[name], exact[name], rtol=1e-10, atol=1e-13), name
    assert not torch.allclose(ours["w_rec"], exact["w_rec"], rtol=1e-3)  # future spikes left out
    cos = F.cosine_similarity(ours["w_in"].flatten(), exact["w_in"].flatten(), dim=0)
    assert 0.5 < cos < 1.0  # an approximation, pointing the same way
    assert torch.equal(ours["w_rec"].diagonal(), torch.zeros(7, dtype=x.dtype))
    random = _net(recurrent=False, feedback="random")
    exact, ours = _bptt(random, x, labels), _eprop(random, x, labels)
    assert torch.allclose(ours["w_out"], exact["w_out"], rtol=1e-10, atol=1e-13)
    assert not torch.allclose(ours["w_in"], exact["w_in"], rtol=1e-2)


def test_gradients_accumulate_and_the_registry_builds_it():
    net = _net(recurrent=True)
    x, labels = _data()
    once = _eprop(net, x, labels)
    net.eprop_gradients(x, labels)
    assert torch.allclose(net.w_in.grad, 2 * once["w_in"])
    model = create("eprop_rsnn", num_classes=3, in_features=5, hidden=6)
    assert model(torch.rand(4, 2, 5)).shape == (4, 2, 3)
    with pytest.raises(ValueError, match="neuron='plif'"):
        create("eprop_rsnn", in_features=5, neuron="plif")
    with pytest.raises(ValueError, match="5 features"):
        model(torch.rand(4, 2, 6))
    with pytest.raises(ValueError, match="tau"):
        EpropRSNN(5, 6, 3, tau=0.5)
