"""Activity regularizers: hand computations, zero inside the bounds, gradients."""

from __future__ import annotations

import pytest
import torch

from spikeforge.losses import REGULARIZERS, L1Rate, RateBounds

# T = 4, B = 2, 3 neurons. Rates per sample: b0 = [1, 0.5, 0], b1 = [0.25, 0.5, 0].
S = torch.zeros(4, 2, 3, dtype=torch.float64)
S[:, 0, 0] = 1
S[:2, 0, 1] = 1
S[0, 1, 0] = 1
S[1:3, 1, 1] = 1


def test_l1_rate_hand_computed():
    # Σ_i r: b0 = 1.5, b1 = 0.75 → batch mean 1.125.
    assert L1Rate(weight=2.0)(S).item() == pytest.approx(2.0 * 1.125)
    assert L1Rate(weight=1.0, reduction="mean")(S).item() == pytest.approx(1.125 / 3)
    assert L1Rate()(torch.zeros(5, 2, 4)).item() == 0.0


def test_l1_rate_gradient_is_weight_over_bt():
    x = S.clone().requires_grad_(True)
    L1Rate(weight=3.0)(x).backward()
    # d/dS[t,b,i] of λ·mean_b Σ_i mean_t S = λ / (B·T) everywhere — silent steps
    # included, so surrogate gradients can lower membranes that have not fired yet.
    assert torch.allclose(x.grad, torch.full_like(x.grad, 3.0 / 8))


def test_rate_bounds_hand_computed():
    # Neuron rates over (t, b): [0.625, 0.5, 0.0].
    reg = RateBounds(lower=0.1, upper=0.55, weight=2.0)
    expected = 2.0 * ((0.625 - 0.55) ** 2 + 0.0 + (0.1 - 0.0) ** 2) / 3
    assert reg(S).item() == pytest.approx(expected)
    # Zero when every neuron lies inside the bounds (bounds inclusive).
    assert RateBounds(lower=0.0, upper=0.625)(S).item() == 0.0
    assert RateBounds(lower=0.2, upper=0.8)(torch.full((10, 3, 2, 2), 0.5)).item() == 0.0


def test_rate_bounds_gradients_push_back_inside():
    x = S.clone().requires_grad_(True)
    RateBounds(lower=0.1, upper=0.55)(x).backward()
    g = x.grad
    assert torch.all(g[:, :, 0] > 0)  # above upper: descent lowers its spikes
    assert torch.all(g[:, :, 1] == 0)  # inside: untouched
    assert torch.all(g[:, :, 2] < 0)  # below lower: descent raises its spikes


def test_regularizer_validation_and_registry():
    with pytest.raises(ValueError, match=r"lower=0\.6, upper=0\.5"):
        RateBounds(lower=0.6, upper=0.5)
    with pytest.raises(ValueError, match="weight"):
        L1Rate(weight=-1.0)
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        L1Rate()(torch.zeros(4))
    with pytest.raises(TypeError, match="floating-point"):
        RateBounds()(torch.zeros(4, 2, dtype=torch.int64))
    assert REGULARIZERS.names() == ["l1_rate", "rate_bounds"]
    with pytest.raises(ValueError, match="l1_rate, rate_bounds"):
        REGULARIZERS.create("l2_rate")
