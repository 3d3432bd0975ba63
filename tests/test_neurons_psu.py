"""PSU, IPSU, RPSU neurons (METHODS §3.2); the membrane function itself:
``test_functional_psu.py``."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from spikeforge.functional.parallel import reset_kernel_matrix
from spikeforge.neurons import IPSU, NEURONS, PSU, RPSU

F64 = torch.float64


def test_registry_names() -> None:
    for name in ("psu", "ipsu", "rpsu"):
        assert name in NEURONS


def test_psu_matches_its_defining_formula() -> None:
    torch.manual_seed(1)
    T, tau, v_th = 7, 2.0, 0.75
    x = torch.randn(T, 2, 3, dtype=F64)
    psu = PSU(T, tau=tau, v_th=v_th).double()
    beta = 1 - 1 / tau
    ax = torch.stack([sum(beta ** (t - i) / tau * x[i] for i in range(t + 1)) for t in range(T)])
    est = torch.sigmoid(ax - v_th)
    v = torch.stack(
        [
            ax[t] - v_th * sum((beta ** (t - i) * est[i] for i in range(t)), torch.zeros_like(x[0]))
            for t in range(T)
        ]
    )
    torch.testing.assert_close(psu.membrane(x), v, rtol=0, atol=1e-13)
    assert torch.equal(psu(x), (v >= v_th).to(F64))


def test_identity_integration_gives_the_formula() -> None:
    # IPSU with A = I: V = X - V_th R σ(X - V_th).
    torch.manual_seed(2)
    T, v_th = 6, 1.0
    ipsu = IPSU(T, v_th=v_th).double()
    with torch.no_grad():
        ipsu.integration.copy_(torch.eye(T, dtype=F64))
    x = torch.randn(T, 5, dtype=F64)
    r = reset_kernel_matrix(T, 2.0, dtype=F64)
    expected = x - v_th * (r @ torch.sigmoid(x - v_th))
    torch.testing.assert_close(ipsu.membrane(x), expected, rtol=0, atol=1e-14)


def test_learnable_variants_start_as_psu_and_stay_causal() -> None:
    torch.manual_seed(3)
    T = 8
    x = torch.randn(T, 2, 3)
    psu, ipsu, rpsu = PSU(T), IPSU(T), RPSU(T)
    assert torch.equal(ipsu(x), psu(x)) and torch.equal(rpsu(x), psu(x))
    assert [n for n, _ in ipsu.named_parameters()] == ["integration"]
    assert [n for n, _ in rpsu.named_parameters()] == ["reset_matrix"]
    assert list(psu.parameters()) == []
    with torch.no_grad():  # future entries of the learnable matrices are masked out
        ipsu.integration.add_(torch.randn(T, T))
        rpsu.reset_matrix.add_(torch.randn(T, T))
    for neuron in (psu, ipsu, rpsu):
        base = neuron.membrane(x)
        y = x.clone()
        y[5:] += 3.0
        torch.testing.assert_close(neuron.membrane(y)[:5], base[:5], rtol=0, atol=0)


@pytest.mark.parametrize(("cls", "name"), [(IPSU, "integration"), (RPSU, "reset_matrix")])
def test_gradients_reach_learnable_matrices(cls: type[PSU], name: str) -> None:
    torch.manual_seed(4)
    neuron = cls(6, v_th=0.5)
    neuron(torch.rand(6, 4, 3) * 2).sum().backward()
    grad = getattr(neuron, name).grad
    assert grad is not None and grad.abs().sum() > 0
    mask = neuron.integration_mask if name == "integration" else neuron.reset_mask
    assert torch.all(grad[mask == 0] == 0)

    # float64 gradcheck on the smooth (pre-spike) membrane path.
    neuron = neuron.double()

    class Membrane(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.n = neuron

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.n.membrane(x)

    wrapper = Membrane()
    matrix = getattr(neuron, name).detach().clone().requires_grad_(True)
    x = torch.randn(6, 2, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda m, x: functional_call(wrapper, {f"n.{name}": m}, (x,)), (matrix, x)
    )


@pytest.mark.parametrize("cls", [PSU, IPSU, RPSU])
def test_time_steps_mismatch_and_step_raise(cls: type[PSU]) -> None:
    neuron = cls(4)
    with pytest.raises(ValueError, match=r"built for T = 4 .* T = 5"):
        neuron(torch.zeros(5, 2, 1))
    with pytest.raises(NotImplementedError, match="whole sequence"):
        neuron.step(torch.zeros(2))
    with pytest.raises(ValueError, match="tau"):
        cls(4, tau=0.5)


@pytest.mark.parametrize("cls", [PSU, IPSU, RPSU])
def test_non_finite_parameters_and_input_are_refused(cls) -> None:
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="tau must be a finite number >= 1"):
            cls(4, tau=bad)
        with pytest.raises(ValueError, match="v_th must be a finite number"):
            cls(4, v_th=bad)
    x = torch.rand(4, 2, 3)
    x[3, 0, 2] = float("-inf")
    with pytest.raises(ValueError, match=rf"input to {cls.__name__} layer contains -inf at"):
        cls(4)(x)


@pytest.mark.parametrize("cls", [PSU, RPSU])
def test_checkpoint_with_the_old_reset_key_loads(cls: type[PSU]) -> None:
    # R was stored as "reset" before it became "reset_matrix" (reset() is a method now).
    neuron = cls(4, tau=3.0)
    state = dict(neuron.state_dict())
    state["reset"] = state.pop("reset_matrix") * 2
    fresh = cls(4, tau=3.0)
    wrapper = nn.Sequential(fresh)
    wrapper.load_state_dict({f"0.{k}": v for k, v in state.items()})
    torch.testing.assert_close(fresh.reset_matrix, neuron.reset_matrix * 2)
    assert fresh.reset() is None  # the no-op every neuron has
