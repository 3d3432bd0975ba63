"""Pair STDP from traces, against hand values and an explicit sum over spike pairs."""

import math

import pytest
import torch

from spikeforge.methods import stdp_update

f64 = torch.float64


def _train(T: int, times: list[int]) -> torch.Tensor:
    s = torch.zeros(T, 1, 1, dtype=f64)
    s[times, 0, 0] = 1.0
    return s


def test_one_pair_by_hand():
    lam = math.exp(-1 / 20)
    kw = {"a_plus": 0.01, "a_minus": 0.02}
    # pre at 0, post at 3: potentiation A₊ λ³
    assert stdp_update(_train(6, [0]), _train(6, [3]), **kw).item() == pytest.approx(0.01 * lam**3)
    # post at 0, pre at 3: depression A₋ λ³
    assert stdp_update(_train(6, [3]), _train(6, [0]), **kw).item() == pytest.approx(-0.02 * lam**3)
    # the same step: one pair, potentiation A₊
    assert stdp_update(_train(6, [2]), _train(6, [2]), **kw).item() == pytest.approx(0.01)


def test_random_trains_equal_the_sum_over_every_pair():
    g = torch.Generator().manual_seed(0)
    pre = (torch.rand(15, 3, 4, generator=g) < 0.3).to(f64)
    post = (torch.rand(15, 3, 2, generator=g) < 0.3).to(f64)
    kw = {"tau_pre": 5.0, "tau_post": 8.0, "a_plus": 0.3, "a_minus": 0.2}
    lp, lq = math.exp(-1 / 5.0), math.exp(-1 / 8.0)
    expected = torch.zeros(2, 4, dtype=f64)
    for b in range(3):
        for j in range(2):
            for i in range(4):
                for tq in post[:, b, j].nonzero().flatten().tolist():
                    for tp in pre[:, b, i].nonzero().flatten().tolist():
                        if tp <= tq:
                            expected[j, i] += 0.3 * lp ** (tq - tp)
                        else:
                            expected[j, i] -= 0.2 * lq ** (tp - tq)
    assert torch.allclose(stdp_update(pre, post, **kw), expected / 3)


def test_bad_shapes_and_constants_are_refused():
    pre, post = torch.zeros(4, 2, 3), torch.zeros(4, 2, 5)
    with pytest.raises(ValueError, match="same T and B"):
        stdp_update(pre, torch.zeros(4, 3, 5))
    with pytest.raises(ValueError, match="positive"):
        stdp_update(pre, post, tau_pre=0.0)
    with pytest.raises(ValueError, match=">= 0"):
        stdp_update(pre, post, a_minus=-1.0)
    assert stdp_update(pre, post).shape == (5, 3)
