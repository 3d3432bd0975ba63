import pytest
import torch

from spikeforge.layers import CONNECT_FUNCTIONS, SpikeJoin, SynAGate, connect, spike_or
from spikeforge.neurons import IF

# Every (A, S) pair of binary inputs, and the hand-computed truth table of each join.
A = torch.tensor([0.0, 0.0, 1.0, 1.0])
S = torch.tensor([0.0, 1.0, 0.0, 1.0])
TRUTH = {
    "add": [0.0, 1.0, 1.0, 2.0],  # A + S
    "and": [0.0, 0.0, 0.0, 1.0],  # A · S
    "iand": [0.0, 1.0, 0.0, 0.0],  # (1 - A) · S
    "or": [0.0, 1.0, 1.0, 1.0],  # A + S - A · S
}


@pytest.mark.parametrize("mode", CONNECT_FUNCTIONS)
def test_truth_tables(mode):
    assert connect(A, S, mode).tolist() == TRUTH[mode]
    assert SpikeJoin(mode)(A, S).tolist() == TRUTH[mode]


def test_or_stays_binary_and_has_the_product_rule_gradients(generator):
    a = (torch.rand(3, 2, 4, 5, 5, generator=generator) > 0.5).float().requires_grad_()
    s = (torch.rand(3, 2, 4, 5, 5, generator=generator) > 0.5).float().requires_grad_()
    out = spike_or(a, s)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(out, torch.maximum(a, s))
    out.sum().backward()
    # d(A + S - AS)/dA = 1 - S: the residual path learns where the shortcut is silent.
    assert torch.equal(a.grad, 1 - s.detach()) and torch.equal(s.grad, 1 - a.detach())


def test_join_rejects_bad_input():
    with pytest.raises(ValueError, match="connect must be one of"):
        SpikeJoin("xor")
    with pytest.raises(ValueError, match=r"\(2,\) \(residual\) and \(3,\) \(shortcut\)"):
        connect(torch.zeros(2), torch.zeros(3), "or")
    with pytest.raises(TypeError, match="two tensors"):
        connect([0.0], torch.zeros(1), "add")


def test_syna_promotion_gate_shape_and_range(generator):
    gate = SynAGate(4, mode="promote")
    x = torch.randn(3, 2, 4, 5, 5, generator=generator)
    weights = gate.gate(x)
    assert weights.shape == (3, 2, 4, 1, 1)
    assert ((weights > 0) & (weights < 1)).all()
    out = gate(x)
    assert out.shape == x.shape and (out >= 0).all()
    assert torch.allclose(out, torch.relu(weights * x))
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gate.parameters())


def test_syna_inhibition_gate_is_binary_starts_open_and_can_prune(generator):
    spikes = (torch.rand(3, 2, 4, 5, 5, generator=generator) > 0.5).float()
    gate = SynAGate(4, mode="inhibit", neuron=IF())
    with torch.no_grad():
        for p in gate.mlp.parameters():
            p.zero_()
    weights = gate.gate(spikes)
    # Zero logits + open_bias (3) cross the IF threshold: every shortcut starts open.
    assert weights.shape == (3, 2, 4, 1, 1) and bool((weights == 1).all())
    assert torch.equal(gate(spikes), spikes)
    closed = SynAGate(4, mode="inhibit", neuron=IF(), open_bias=-100.0)
    assert not closed(spikes).any()  # the whole shortcut is pruned
    random = SynAGate(4, mode="inhibit")(torch.randn(3, 2, 4, 5, 5, generator=generator))
    assert set(SynAGate(4, mode="inhibit").gate(spikes).unique().tolist()) <= {0.0, 1.0}
    assert random.shape == spikes.shape


def test_syna_inhibition_gate_passes_gradient_to_its_mlp(generator):
    # Seeded init: a 4-unit ReLU MLP fed non-negative spike statistics can, for rare
    # draws, have every hidden unit dead — a property of the init, not of the gate.
    torch.manual_seed(0)
    gate = SynAGate(8, mode="inhibit", reduction=2)
    spikes = (torch.rand(2, 3, 8, 4, 4, generator=generator) > 0.5).float()
    (gate(spikes) * torch.randn(spikes.shape, generator=generator)).sum().backward()
    for name, p in gate.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_syna_time_axis_needs_and_checks_num_steps(generator):
    with pytest.raises(ValueError, match="num_steps"):
        SynAGate(4, axis="time")
    gate = SynAGate(4, axis="time", num_steps=3, reduction=1)
    x = torch.randn(3, 2, 4, 5, 5, generator=generator)
    assert gate.gate(x).shape == (3, 2, 1, 1, 1)
    assert gate(x).shape == x.shape
    with pytest.raises(ValueError, match="built for T=3 steps, got T=2"):
        gate(x[:2])
    with pytest.raises(ValueError, match=r"expects \[T, B, 4, H, W\]"):
        SynAGate(4)(torch.zeros(3, 2, 5, 5, 5))
    with pytest.raises(ValueError, match="mode must be one of"):
        SynAGate(4, mode="boost")


def test_syna_gate_in_the_authors_form(generator):
    # METHODS §15: time axis, MLP T -> T/4 -> T, inhibition without an opening offset and
    # with the same ReLU(gate · x) output as the promotion gate.
    torch.manual_seed(0)
    ia = SynAGate(4, "inhibit", "time", num_steps=8, hidden=2, open_bias=None, rectify=True)
    assert ia.open_bias is None and [tuple(p.shape) for p in ia.parameters()] == [(2, 8), (8, 2)]
    x = torch.randn(8, 2, 4, 5, 5, generator=generator)
    weights = ia.gate(x)
    assert weights.shape == (8, 2, 1, 1, 1) and set(weights.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(ia(x), torch.relu(weights * x))
    with torch.no_grad():
        for p in ia.mlp.parameters():
            p.zero_()
    assert not ia.gate(x).any() and not ia(x).any()  # logits 0: the LIF never fires


def test_syna_gate_defaults_unchanged_and_options_checked(generator):
    x = torch.randn(3, 2, 16, 5, 5, generator=generator)
    promote, inhibit = SynAGate(16), SynAGate(16, "inhibit", neuron=IF())
    assert promote.rectify and not inhibit.rectify and inhibit.open_bias is not None
    assert promote.mlp[0].out_features == 8  # min(dim, max(8, dim // 4))
    assert torch.equal(inhibit(x), inhibit.gate(x) * x)  # negative current passes
    assert SynAGate(16, hidden=3).mlp[0].out_features == 3
    unrectified = SynAGate(16, rectify=False)
    assert torch.equal(unrectified(x), unrectified.gate(x) * x)
    with pytest.raises(ValueError, match="hidden must be a positive int"):
        SynAGate(4, hidden=0)
    with pytest.raises(TypeError, match="rectify must be True, False or None"):
        SynAGate(4, rectify="yes")
