import pytest
import torch

from spikeforge.neurons import LI


def test_readout_returns_membrane_not_spikes():
    v = LI(tau=None)(torch.full((3, 1, 1), 2.0))
    assert v.flatten().tolist() == [2.0, 4.0, 6.0]


def test_bad_tau():
    with pytest.raises(ValueError, match="tau must be >= 1 or None"):
        LI(tau=0.5)


def test_non_finite_tau_is_refused():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="tau must be a finite number"):
            LI(tau=bad)


def test_readout_compiles_as_one_graph_with_the_default_backend():
    # Its forward once built LIFParameters' default surrogate, which dynamo cannot trace.
    readout = LI(tau=2.0)
    x = torch.randn(6, 3, 5, dtype=torch.float64, requires_grad=True)
    expected = readout(x)
    (grad_expected,) = torch.autograd.grad(expected.square().sum(), x)
    compiled = torch.compile(readout, fullgraph=True, backend="aot_eager")
    out = compiled(x)
    (grad,) = torch.autograd.grad(out.square().sum(), x)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad, grad_expected, rtol=0, atol=1e-12)
