import math
import pickle

import pytest
import torch

from spikeforge.surrogates import (
    SURROGATES,
    ATan,
    FastSigmoid,
    PiecewiseLinear,
    Rectangle,
    Sigmoid,
    Triangle,
    get_surrogate,
    resolve_surrogate,
    surrogate_options,
)

ALL = [
    ATan(),
    Sigmoid(),
    FastSigmoid(),
    Triangle(),
    Rectangle(),
    PiecewiseLinear(),
    ATan(alpha=5.0),
    Triangle(alpha=2.0, gamma=1.0),
    Rectangle(alpha=0.5),
]


def test_registry_lists_every_surrogate():
    assert SURROGATES.names() == sorted(
        ["atan", "sigmoid", "fast_sigmoid", "triangle", "rectangle", "piecewise_linear"]
    )


@pytest.mark.parametrize("surrogate", ALL, ids=repr)
def test_forward_is_exact_heaviside_firing_at_zero(surrogate):
    x = torch.tensor([-2.0, -1e-7, 0.0, 1e-7, 3.0], dtype=torch.float64)
    assert torch.equal(surrogate(x), torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0], dtype=torch.float64))


@pytest.mark.parametrize("surrogate", ALL, ids=repr)
def test_backward_equals_derivative_of_primitive(surrogate):
    # Points away from kinks (|x| = width edges) where the primitive is differentiable.
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    x = x[(x.abs() - 1 / (2 * surrogate.alpha)).abs() > 1e-3]
    x = x[(x.abs() - 1 / surrogate.alpha).abs() > 1e-3]
    x = x[x.abs() > 1e-3]  # |x| has a kink at 0 (fast_sigmoid): finite differences are O(h) there
    x.requires_grad_(True)
    (grad_spike,) = torch.autograd.grad(surrogate(x).sum(), x)
    (grad_primitive,) = torch.autograd.grad(surrogate.primitive(x).sum(), x)
    torch.testing.assert_close(grad_spike, grad_primitive, rtol=1e-12, atol=1e-12)
    # ... and the primitive's autograd derivative matches central finite differences.
    h = 1e-6
    with torch.no_grad():
        fd = (surrogate.primitive(x + h) - surrogate.primitive(x - h)) / (2 * h)
    torch.testing.assert_close(grad_spike, fd, rtol=1e-5, atol=1e-7)


def test_analytic_values_by_hand():
    x = torch.tensor([0.0, 0.5], dtype=torch.float64)
    torch.testing.assert_close(
        ATan(alpha=2.0).derivative(x),
        torch.tensor([1.0, 2 / (2 * (1 + (math.pi / 2) ** 2))], dtype=torch.float64),
    )
    torch.testing.assert_close(
        Sigmoid(alpha=4.0).derivative(x)[0], torch.tensor(1.0, dtype=torch.float64)
    )
    torch.testing.assert_close(
        FastSigmoid(alpha=2.0).derivative(x), torch.tensor([1.0, 0.25], dtype=torch.float64)
    )
    torch.testing.assert_close(
        Triangle(alpha=1.0, gamma=0.3).derivative(torch.tensor([0.0, 0.5, 1.5])),
        torch.tensor([0.3, 0.15, 0.0]),
    )
    # alpha = 1 with a threshold of 0.5: the straight-through estimator on |x| < 0.5.
    torch.testing.assert_close(
        Rectangle(alpha=1.0).derivative(torch.tensor([-0.49, 0.49, 0.5])),
        torch.tensor([1.0, 1.0, 0.0]),
    )
    torch.testing.assert_close(
        PiecewiseLinear(alpha=1.0, leak=0.01).derivative(torch.tensor([0.0, 2.0])),
        torch.tensor([0.5, 0.01]),
    )


@pytest.mark.parametrize("surrogate", ALL, ids=repr)
def test_picklable_and_readable(surrogate):
    clone = pickle.loads(pickle.dumps(surrogate))
    assert clone == surrogate
    assert f"alpha={surrogate.alpha}" in repr(surrogate)


def test_lookup_by_name_with_options_and_errors():
    assert get_surrogate("sigmoid", alpha=2.0) == Sigmoid(alpha=2.0)
    assert get_surrogate(None) == ATan()
    with pytest.raises(ValueError, match="unknown surrogate 'nope'.*atan"):
        get_surrogate("nope")
    with pytest.raises(ValueError, match="alpha must be > 0"):
        ATan(alpha=0.0)
    with pytest.raises(TypeError, match="surrogate must be a name"):
        get_surrogate(3)


def test_a_surrogate_setting_is_a_name_a_mapping_with_options_or_an_instance():
    assert resolve_surrogate("atan") == ATan()
    assert resolve_surrogate({"name": "atan", "alpha": 4}) == ATan(alpha=4.0)
    assert resolve_surrogate({"name": "ATan", "alpha": 4}).alpha == 4.0  # any case
    assert isinstance(resolve_surrogate({"name": "atan", "alpha": 4}).alpha, float)
    # a triangle's width is 1/alpha, gamma its height
    assert resolve_surrogate({"name": "triangle", "alpha": 0.5, "gamma": 1}) == Triangle(0.5, 1.0)
    assert resolve_surrogate(None) == ATan()
    same = Sigmoid(alpha=3.0)
    assert resolve_surrogate(same) is same
    assert get_surrogate({"name": "sigmoid"}, alpha=2.0) == Sigmoid(alpha=2.0)
    assert surrogate_options("triangle") == ("alpha", "gamma")
    assert surrogate_options("piecewise_linear") == ("alpha", "leak")


def test_bad_surrogate_settings_name_the_key_and_the_choices():
    where = "model.surrogate"
    with pytest.raises(
        ValueError, match="model.surrogate: unknown surrogate 'atann'; registered: atan"
    ):
        resolve_surrogate({"name": "atann"}, where)
    with pytest.raises(
        ValueError, match="surrogate 'triangle' has no option.*width.*: alpha, gamma"
    ):
        resolve_surrogate({"name": "triangle", "width": 2}, where)
    with pytest.raises(ValueError, match=r"model.surrogate=\{'alpha': 4\} has no name.*atan"):
        resolve_surrogate({"alpha": 4}, where)  # e.g. model.surrogate.alpha=4 over a name
    with pytest.raises(ValueError, match="model.surrogate.alpha must be a number, got 'x'"):
        resolve_surrogate({"name": "atan", "alpha": "x"}, where)
    with pytest.raises(ValueError, match="model.surrogate: ATan.alpha must be > 0"):
        resolve_surrogate({"name": "atan", "alpha": 0}, where)
    with pytest.raises(TypeError, match="model.surrogate must be a name .* or a Surrogate"):
        resolve_surrogate(3, where)
