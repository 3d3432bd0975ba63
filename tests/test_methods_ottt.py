"""OTTT: SLTT's step-by-step gradients, with presynaptic traces for the synaptic weights."""

import pytest
import torch
from torch import nn

from spikeforge.layers import fold
from spikeforge.methods import METHODS, OTTT, SLTT
from spikeforge.methods.ottt import SynapticTraces, leak_of
from spikeforge.neurons import IF, LI, LIF, PLIF


def _net(conv: bool = False, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    if conv:
        first = fold(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten())
        width = 4 * 6
    else:
        first, width = fold(nn.Linear(6, 12)), 12
    return nn.Sequential(first, LIF(tau=2.0), fold(nn.Linear(width, 3)), LI()).double()


def _inputs(conv: bool = False, T: int = 5):
    g = torch.Generator().manual_seed(1)
    shape = (T, 4, 1, 2, 3) if conv else (T, 4, 6)
    return 8.0 * torch.rand(shape, generator=g, dtype=torch.float64), torch.tensor([0, 1, 2, 1])


@pytest.mark.parametrize("conv", [False, True])
def test_weight_gradients_use_the_presynaptic_trace_and_the_rest_is_sltts(conv):
    net, ref = _net(conv), _net(conv)
    x, y = _inputs(conv)
    T, decay = x.shape[0], 0.5  # LIF τ = 2: λ = 1 - 1/τ
    OTTT()(net, x, y)
    # Reference: SLTT's step-by-step run, recording each synaptic layer's input and the
    # gradient at its output; OTTT's weight gradient is Σ_t g[t]ᵀ â[t].
    synapses = [m for m in ref.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    seen: dict[nn.Module, list] = {m: [] for m in synapses}

    def record(module, inputs, output):
        seen[module].append([inputs[0].detach(), None])
        output.register_hook(lambda g: seen[module][-1].__setitem__(1, g))

    handles = [m.register_forward_hook(record) for m in synapses]
    SLTT()(ref, x, y)
    for h in handles:
        h.remove()
    for m in synapses:
        trace, expected = None, torch.zeros_like(m.weight)
        for s, g in seen[m]:
            trace = s if trace is None else decay * trace + s
            if isinstance(m, nn.Linear):
                expected += g.T @ trace
            else:
                expected += torch.nn.grad.conv2d_weight(trace, m.weight.shape, g, padding=1)
        name = next(n for n, mm in ref.named_modules() if mm is m)
        ours = net.get_submodule(name)
        assert len(seen[m]) == T
        assert torch.allclose(ours.weight.grad, expected, rtol=1e-10, atol=1e-12), name
        assert torch.allclose(ours.bias.grad, m.bias.grad, rtol=1e-10, atol=1e-12), name
        assert not torch.allclose(ours.weight.grad, m.weight.grad, rtol=1e-3)  # traces matter


def test_outputs_are_exactly_the_layers_and_the_block_restores_it():
    net = _net()
    x, _ = _inputs()
    layer = net[0].layer
    with torch.no_grad():
        plain = [layer(x[t]) for t in range(x.shape[0])]
    with SynapticTraces(net, 0.5) as traces:
        for t in range(x.shape[0]):
            traces.begin_step()
            assert torch.equal(layer(x[t]), plain[t])
        assert torch.allclose(
            traces.traces["0.layer"], sum(0.5 ** (4 - t) * x[t] for t in range(5))
        )
        with pytest.raises(RuntimeError, match="ran twice"):
            layer(x[0])
    assert "forward" not in layer.__dict__ and not traces.traces


def test_the_trace_decay_comes_from_the_model_or_the_options():
    assert leak_of(nn.Sequential(LIF(tau=4.0), LIF(tau=4.0))) == 0.75
    assert leak_of(nn.Sequential(IF())) == 1.0
    with pytest.raises(ValueError, match="trace_decay"):
        leak_of(nn.Sequential(LIF(tau=2.0), LIF(tau=4.0)))
    with pytest.raises(ValueError, match="no LIF-family neuron"):
        leak_of(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="learnable decay"):
        leak_of(nn.Sequential(PLIF()))
    with pytest.raises(ValueError, match="trace_decay"):
        OTTT(trace_decay=1.5)
    plif = nn.Sequential(fold(nn.Linear(6, 3)), PLIF()).double()
    x, y = _inputs()
    OTTT(objective="ce_rate", trace_decay=0.25)(plif, x, y)  # explicit decay: no reading
    assert plif[0].layer.weight.grad is not None
    assert isinstance(METHODS.create("ottt"), OTTT)
    with pytest.raises(ValueError, match="padding_mode"):
        SynapticTraces(nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"), 0.5)


def test_leaving_the_input_layer_untraced_gives_it_sltts_gradient():
    x, y = _inputs()
    untraced, traced, sltt = _net(), _net(), _net()
    OTTT(trace_input_layer=False)(untraced, x, y)
    OTTT()(traced, x, y)
    SLTT()(sltt, x, y)
    first, second = untraced[0].layer.weight.grad, untraced[2].layer.weight.grad
    assert torch.allclose(first, sltt[0].layer.weight.grad, rtol=1e-10, atol=1e-12)
    assert not torch.allclose(first, traced[0].layer.weight.grad, rtol=1e-3)
    assert torch.allclose(second, traced[2].layer.weight.grad, rtol=1e-10, atol=1e-12)
