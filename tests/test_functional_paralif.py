"""ParaLIF's spike functions and the max-over-time membrane objective as pure functions
(``functional/paralif.py``; the neurons built on them: ``test_neurons_paralif.py``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spikeforge.functional.paralif import (
    DELTA_MODES,
    SPIKE_MODES,
    STOCHASTIC_MODES,
    THRESHOLD_MODES,
    bernoulli_spikes,
    check_spike_mode,
    gumbel_softmax_spikes,
    max_membrane_cross_entropy,
    membrane_readout,
    normaliser,
    paralif_spikes,
)
from spikeforge.surrogates import FastSigmoid

F64 = torch.float64


def test_modes_partition_and_their_normalisers():
    groups = (*STOCHASTIC_MODES, *DELTA_MODES, *THRESHOLD_MODES)
    assert sorted(groups) == sorted(SPIKE_MODES) and len(set(groups)) == len(SPIKE_MODES)
    m = torch.tensor([-2.0, -0.5, 0.0, 0.7, 3.0], dtype=F64)
    expected = {  # the module docstring's table: S* sigmoid, T* tanh, TR* ReLU∘tanh
        "SB": torch.sigmoid(m), "SD": torch.sigmoid(m), "ST": torch.sigmoid(m),
        "TD": torch.tanh(m), "TT": torch.tanh(m),
        "TRB": F.relu(torch.tanh(m)), "TRD": F.relu(torch.tanh(m)), "TRT": F.relu(torch.tanh(m)),
        "GS": m, "D": m, "T": m,
    }  # fmt: skip
    assert set(expected) == set(SPIKE_MODES)
    for mode, value in expected.items():
        assert torch.equal(normaliser(mode)(m), value), mode
    assert check_spike_mode("TRT") == "TRT"
    with pytest.raises(ValueError, match=r"spike_fn must be one of .*got 'X'"):
        check_spike_mode("X")
    with pytest.raises(ValueError, match="spike_fn"):
        normaliser("tt")  # case matters


def test_deterministic_spike_functions_follow_their_definitions() -> None:
    torch.manual_seed(1)
    m = torch.randn(9, 4, 3, dtype=F64)
    sur = FastSigmoid(alpha=100.0)
    norms = {"": m, "S": torch.sigmoid(m), "T": torch.tanh(m), "TR": F.relu(torch.tanh(m))}
    for prefix, z in norms.items():
        thr = paralif_spikes(m, prefix + "T", sur, threshold=0.3)
        assert torch.equal(thr, (z >= 0.3).to(F64))
        prev = torch.cat([torch.zeros_like(z[:1]), z[:-1]])
        delta = paralif_spikes(m, prefix + "D", sur, delta_threshold=0.05)
        assert torch.equal(delta, (z - prev >= 0.05).to(F64))


def test_threshold_and_delta_spikes_by_hand_fire_at_equality():
    # one neuron, T = 4: m = 0.5, 1.0, 1.0, 2.5
    m = torch.tensor([0.5, 1.0, 1.0, 2.5], dtype=F64).view(4, 1)
    sur = FastSigmoid()
    assert paralif_spikes(m, "T", sur, threshold=1.0).flatten().tolist() == [0, 1, 1, 1]
    # differences from z[-1] = 0: 0.5, 0.5, 0.0, 1.5 against Δ_th = 0.5
    assert paralif_spikes(m, "D", sur, delta_threshold=0.5).flatten().tolist() == [1, 1, 0, 1]


def test_deterministic_spikes_take_the_surrogate_gradient():
    alpha = 2.0
    m = torch.tensor([[0.2], [1.5]], dtype=F64, requires_grad=True)
    paralif_spikes(m, "T", FastSigmoid(alpha=alpha), threshold=1.0).sum().backward()
    u = m.detach() - 1.0
    torch.testing.assert_close(m.grad, 1.0 / (1.0 + alpha * u.abs()) ** 2)


def test_sigmoid_bernoulli_rate_and_gradient() -> None:
    gen = torch.Generator().manual_seed(2)
    p = torch.full((20000,), 0.3, dtype=F64, requires_grad=True)
    s = bernoulli_spikes(p, gen)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    assert abs(float(s.detach().mean()) - 0.3) < 0.02
    s.sum().backward()
    torch.testing.assert_close(p.grad, torch.full_like(p, 0.3))  # ∂s/∂p := p (Eq. 18)


def test_bernoulli_clamps_probabilities_and_is_reproducible():
    p = torch.tensor([-0.5, 1.5] * 50, dtype=F64)
    assert bernoulli_spikes(p).tolist() == [0.0, 1.0] * 50
    q = torch.full((64,), 0.5, dtype=F64)
    a = bernoulli_spikes(q, torch.Generator().manual_seed(7))
    b = bernoulli_spikes(q, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_stochastic_modes_sample_their_normalised_membrane():
    m = torch.full((20000,), 0.4, dtype=F64)
    sb = paralif_spikes(m, "SB", FastSigmoid(), generator=torch.Generator().manual_seed(3))
    assert abs(float(sb.mean()) - torch.sigmoid(torch.tensor(0.4)).item()) < 0.02
    trb = paralif_spikes(-m, "TRB", FastSigmoid(), generator=torch.Generator().manual_seed(3))
    assert float(trb.sum()) == 0.0  # ReLU(tanh(-0.4)) = 0: never fires


def test_gumbel_softmax_is_hard_with_soft_gradient() -> None:
    gen = torch.Generator().manual_seed(3)
    m = torch.full((20000,), 0.4, dtype=F64, requires_grad=True)
    s = gumbel_softmax_spikes(m, 1.0, gen)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    # P(σ(2m + L) > 1/2) = P(L > -2m) = σ(2m) for logistic L.
    assert abs(float(s.detach().mean()) - torch.sigmoid(torch.tensor(0.8)).item()) < 0.02
    s.sum().backward()
    assert torch.all(m.grad > 0)


def test_gumbel_softmax_gradient_is_that_of_the_soft_sample():
    m = torch.tensor([0.3, -0.2], dtype=F64, requires_grad=True)
    tau = 0.5
    gumbel_softmax_spikes(m, tau, torch.Generator().manual_seed(4)).sum().backward()
    # the same uniform draw, by hand: y = σ((2m + L)/τ), dy/dm = 2/τ · y (1 - y)
    u = torch.rand(2, dtype=F64, generator=torch.Generator().manual_seed(4))
    y = torch.sigmoid((2 * m.detach() + torch.log(u) - torch.log1p(-u)) / tau)
    torch.testing.assert_close(m.grad, 2 / tau * y * (1 - y))


def test_membrane_readout_and_max_membrane_cross_entropy_by_hand():
    m = torch.tensor([[[1.0, 0.0]], [[0.0, 3.0]], [[2.0, 1.0]]], dtype=F64)  # [T=3, B=1, C=2]
    assert membrane_readout(m).tolist() == [[2.0, 3.0]]
    assert membrane_readout(m, "mean").tolist() == [[1.0, 4.0 / 3.0]]
    y = torch.tensor([1])
    # CE of logits (2, 3) at class 1: log(1 + e^{-1})
    torch.testing.assert_close(
        max_membrane_cross_entropy(m, y), torch.log1p(torch.exp(torch.tensor(-1.0, dtype=F64)))
    )
    torch.testing.assert_close(
        max_membrane_cross_entropy(m, y, "mean"), F.cross_entropy(m.mean(0), y)
    )
    with pytest.raises(ValueError, match="reduce must be 'max' or 'mean'"):
        membrane_readout(m, "last")
    with pytest.raises(ValueError, match=r"output membranes \[T, B, C\]"):
        max_membrane_cross_entropy(m[0], y)


def test_the_objective_prefers_the_right_class_peaking_highest():
    good = torch.zeros(5, 1, 3, dtype=F64)
    good[2, 0, 1] = 4.0
    bad = torch.zeros_like(good)
    bad[2, 0, 0] = 4.0
    t = torch.tensor([1])
    assert max_membrane_cross_entropy(good, t) < max_membrane_cross_entropy(bad, t)
