"""ParaLIF and ParaLI neurons and the max-over-time loss module (METHODS §3.3); the spike
functions and the objective itself are tested in ``test_functional_paralif.py``."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from spikeforge.functional.paralif import SPIKE_MODES
from spikeforge.neurons import NEURONS, ParaLI, ParaLIF
from spikeforge.neurons.paralif import MaxMembraneLoss

F64 = torch.float64


def _sequential_li(x: torch.Tensor, beta: float, alpha: float | None) -> torch.Tensor:
    cur = torch.zeros_like(x[0])
    m = torch.zeros_like(x[0])
    out = []
    for x_t in x:
        cur = (alpha or 0.0) * cur + x_t
        m = beta * m + (1 - beta) * cur
        out.append(m)
    return torch.stack(out)


def test_registry_names() -> None:
    assert "paralif" in NEURONS and "parali" in NEURONS
    assert NEURONS.create("paralif", spike_fn="T").spike_fn == "T"


@pytest.mark.parametrize("tau_syn", [None, 2.0])
@pytest.mark.parametrize("T", [1, 17, 150])
def test_fft_and_direct_agree_and_match_the_recursion(tau_syn: float | None, T: int) -> None:
    torch.manual_seed(0)
    layer = ParaLI(tau_mem=4.0, tau_syn=tau_syn)
    x = torch.randn(T, 3, 5, dtype=F64)
    fft = layer.integrate(x, "fft")
    direct = layer.integrate(x, "direct")
    torch.testing.assert_close(fft, direct, rtol=0, atol=1e-12)
    alpha = None if tau_syn is None else math.exp(-1 / tau_syn)
    ref = _sequential_li(x, math.exp(-0.25), alpha)
    torch.testing.assert_close(direct, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(layer(x), layer.integrate(x, "auto"))


@pytest.mark.parametrize("mode", SPIKE_MODES)
@pytest.mark.parametrize("recurrent", [False, True])
def test_every_mode_spikes_and_trains(mode: str, recurrent: bool) -> None:
    torch.manual_seed(4)
    layer = ParaLIF(spike_fn=mode, recurrent_features=6 if recurrent else None)
    x = (torch.randn(10, 3, 6) * 3).requires_grad_(True)
    s = layer(x)
    assert s.shape == x.shape and set(s.unique().tolist()) <= {0.0, 1.0}
    (s * torch.randn_like(s)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    if recurrent:
        assert layer.recurrent is not None and layer.recurrent.weight.grad.abs().sum() > 0
    if isinstance(layer.threshold, torch.nn.Parameter):
        assert layer.threshold.grad is not None


def test_recurrent_paralif_follows_equations_and_is_causal() -> None:
    torch.manual_seed(5)
    layer = ParaLIF(spike_fn="T", recurrent_features=4, tau_mem=2.0).double()
    x = torch.randn(8, 2, 4, dtype=F64) * 2
    beta = math.exp(-0.5)
    m_h = _sequential_li(x, beta, None)
    hidden = (torch.cat([torch.zeros_like(m_h[:1]), m_h[:-1]]) >= layer.threshold).to(F64)
    m = m_h + _sequential_li(x + layer.recurrent(hidden), beta, None)
    torch.testing.assert_close(layer.membrane(x), m, rtol=0, atol=1e-12)
    s = layer(x)
    y = x.clone()
    y[5:] = 9.0
    assert torch.equal(layer(y)[:5], s[:5])
    with pytest.raises(ValueError, match="4 features"):
        layer(torch.zeros(3, 2, 5, dtype=F64))


def test_parali_gradcheck_and_max_membrane_loss_module() -> None:
    layer = ParaLI(tau_mem=3.0, tau_syn=1.5)
    x = torch.randn(6, 2, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))
    m = layer(x)
    y = torch.tensor([2, 0])
    torch.testing.assert_close(MaxMembraneLoss()(m, y), F.cross_entropy(m.amax(0), y))
    torch.testing.assert_close(MaxMembraneLoss("mean")(m, y), F.cross_entropy(m.mean(0), y))


def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError, match="spike_fn"):
        ParaLIF(spike_fn="XX")
    with pytest.raises(ValueError, match="method"):
        ParaLIF(method="loop")
    with pytest.raises(ValueError, match="tau_mem"):
        ParaLI(tau_mem=0.0)
    with pytest.raises(ValueError, match="reduce"):
        MaxMembraneLoss("last")
    with pytest.raises(NotImplementedError, match="whole sequence"):
        ParaLIF().step(torch.zeros(2, 3))


def test_non_finite_parameters_and_input_are_refused() -> None:
    for bad in (math.nan, math.inf):
        for kwargs, name in [
            ({"tau_mem": bad}, "tau_mem"),
            ({"tau_syn": bad}, "tau_syn"),
            ({"v_th": bad, "spike_fn": "T"}, "v_th"),
            ({"delta_th": bad, "spike_fn": "D"}, "delta_th"),
            ({"gs_tau": bad, "spike_fn": "GS"}, "gs_tau"),
        ]:
            with pytest.raises(ValueError, match=f"{name} must be a finite number"):
                ParaLIF(**kwargs)
        with pytest.raises(ValueError, match="tau_mem must be a finite number"):
            ParaLI(tau_mem=bad)
    x = torch.rand(5, 2, 3)
    x[1, 1, 1] = math.nan
    for neuron in (ParaLIF(spike_fn="T"), ParaLI()):
        with pytest.raises(ValueError, match=r"contains NaN at index \[1, 1, 1\]"):
            neuron(x)
