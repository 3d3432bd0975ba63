"""Equilibrium IF layer: spiking rates reach the rate equation's fixed point; implicit
differentiation equals backpropagation through the unrolled fixed-point iteration."""

import pytest
import torch

from spikeforge.bench.device import saved_bytes
from spikeforge.models import create
from spikeforge.models.equilibrium import EquilibriumSNN, EquilibriumSpikingLayer, weighted_rate

f64 = torch.float64


def _layer(**kw) -> EquilibriumSpikingLayer:
    torch.manual_seed(0)
    options = {"equilibrium": "iterate", "solver_iters": 200, "tol": 1e-12, **kw}
    return EquilibriumSpikingLayer(6, 10, **options).to(f64)


def _x() -> torch.Tensor:
    return 2.0 * torch.rand(4, 6, generator=torch.Generator().manual_seed(1), dtype=f64)


def test_weighted_rate_by_hand():
    s = torch.tensor([[[1.0]], [[0.0]], [[1.0]]], dtype=f64)
    assert weighted_rate(s, 1.0).item() == pytest.approx(2 / 3)
    # γ = 0.5: (0.25·1 + 0.5·0 + 1·1) / (0.25 + 0.5 + 1)
    assert weighted_rate(s, 0.5).item() == pytest.approx(1.25 / 1.75)


def test_spiking_rates_converge_to_the_fixed_point_of_the_rate_equation():
    layer = _layer()
    u, w = layer.input(_x()).detach(), layer.recurrent_weight().detach()
    a_star = layer.fixed_point(u, w)
    assert torch.allclose(layer.f(a_star, u, w), a_star, atol=1e-10)  # it is a fixed point
    errors = [
        float((weighted_rate(layer.simulate(u, w, T), 1.0) - a_star).abs().max())
        for T in (25, 100, 400)
    ]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.01, errors


@pytest.mark.parametrize("large_w", [False, True])
def test_implicit_gradient_equals_bptt_through_the_unrolled_iteration(large_w):
    layer = _layer()
    if large_w:  # spectral norm ~6: used scaled down to the bound, gradients through σ
        with torch.no_grad():
            layer.recurrent.weight.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(3))
        sigma = torch.linalg.matrix_norm(layer.recurrent_weight().detach(), ord=2)
        assert float(sigma) == pytest.approx(0.9)
    x, y = _x(), torch.randn(4, 10, generator=torch.Generator().manual_seed(2), dtype=f64)
    (layer(x) * y).sum().backward()
    implicit = {n: p.grad.clone() for n, p in layer.named_parameters()}
    assert 1 < layer.last_solver_iters < layer.solver_iters  # the adjoint solve converged
    layer.zero_grad()
    u, w, a = layer.input(x), layer.recurrent_weight(), torch.zeros(4, 10, dtype=f64)
    for _ in range(300):
        a = layer.f(a, u, w)
    (a * y).sum().backward()
    for n, p in layer.named_parameters():
        assert torch.allclose(implicit[n], p.grad, rtol=1e-9, atol=1e-11), n
    phantom = _layer(backward="phantom")
    (phantom(x) * y).sum().backward()
    w = phantom.recurrent.weight.grad
    assert not torch.allclose(w, layer.recurrent.weight.grad, rtol=1e-2)  # an approximation
    assert (layer.solves, layer.unconverged_solves) == (1, 0)


def test_a_solve_that_does_not_converge_falls_back_to_the_phantom_gradient():
    layer = _layer(solver_iters=100)
    a0 = torch.rand(4, 10, dtype=f64, requires_grad=True)
    grad = torch.ones(4, 10, dtype=f64)
    # J = 0.5·I: converges to (I - J)⁻¹ grad = 2·grad
    g = layer._solve_adjoint(0.5 * a0, a0, grad)
    assert torch.allclose(g, 2 * grad) and layer.unconverged_solves == 0
    # J = 2·I: no contraction, the iteration grows without bound; phantom instead
    g = layer._solve_adjoint(2.0 * a0, a0, grad)
    assert torch.equal(g, grad) and layer.last_solver_iters == 100
    assert (layer.solves, layer.unconverged_solves) == (2, 1)


def test_training_memory_does_not_depend_on_the_simulated_steps():
    x = _x()

    def saved(t_conv: int) -> int:
        layer = _layer(equilibrium="spikes", t_conv=t_conv)
        return saved_bytes(lambda: layer(x).sum())

    assert saved(16) == saved(512) > 0


def test_the_model_through_the_registry_and_its_checks():
    model = create("equilibrium_snn", num_classes=3, in_features=6, width=8, neuron="if")
    assert isinstance(model, EquilibriumSNN)
    out = model(3.0 * torch.rand(5, 2, 6))
    assert out.shape == (1, 2, 3)
    out.square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match="model.neuron=if"):
        create("equilibrium_snn", num_classes=3, in_features=6, neuron="lif")
    with pytest.raises(ValueError, match="only v_th"):
        create("equilibrium_snn", num_classes=3, in_features=6, neuron_kwargs={"tau": 2.0})
    with pytest.raises(ValueError, match="6 features"):
        model(torch.rand(5, 2, 7))
    for bad in ({"t_conv": 0}, {"gamma": 0.0}, {"v_th": -1.0}, {"backward": "bptt"}):
        with pytest.raises(ValueError):
            EquilibriumSpikingLayer(6, 10, **bad)
