"""The Parallel Spiking Unit membrane ``V = A X - V_th R Ŝ`` as a pure function
(``functional/psu.py``; the neurons built on it: ``test_neurons_psu.py``)."""

from __future__ import annotations

import torch

from spikeforge.functional.parallel import lif_kernel_matrix, reset_kernel_matrix
from spikeforge.functional.psu import psu_membrane

F64 = torch.float64


def _soft_reset_lif(x: torch.Tensor, tau: float, v_th: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Hand-written soft-reset LIF from rest: (H before firing, spikes), both [T, ...]."""
    v = torch.zeros_like(x[0])
    hs, ss = [], []
    for x_t in x:
        h = v + (x_t - v) / tau
        s = (h >= v_th).to(x.dtype)
        v = h - v_th * s
        hs.append(h)
        ss.append(s)
    return torch.stack(hs), torch.stack(ss)


def test_matrices_with_true_spikes_give_the_soft_reset_lif() -> None:
    # V = A X - V_th R S is exactly the soft-reset LIF membrane when S are its spikes.
    torch.manual_seed(0)
    T, tau, v_th = 15, 3.0, 0.5
    x = torch.rand(T, 3, 4, dtype=F64)
    h, s = _soft_reset_lif(x, tau, v_th)
    assert 0 < s.mean() < 1
    a = lif_kernel_matrix(T, tau, dtype=F64)
    r = reset_kernel_matrix(T, tau, dtype=F64)
    torch.testing.assert_close(psu_membrane(x, a, r, v_th, estimate=s), h, rtol=0, atol=1e-13)


def test_default_estimate_is_the_sigmoid_of_the_reset_free_membrane_by_hand():
    # T = 2, one neuron: A = [[a, 0], [c, d]], R = [[0, 0], [r, 0]]
    a, c, d, r, v_th = 0.5, 0.25, 0.5, 0.5, 0.4
    x = torch.tensor([[1.0], [2.0]], dtype=F64)
    integration = torch.tensor([[a, 0.0], [c, d]], dtype=F64)
    reset = torch.tensor([[0.0, 0.0], [r, 0.0]], dtype=F64)
    charge = torch.tensor([a * 1.0, c * 1.0 + d * 2.0], dtype=F64)  # A X = 0.5, 1.25
    estimate0 = torch.sigmoid(charge[0] - v_th)
    expected = torch.stack([charge[0], charge[1] - v_th * r * estimate0]).view(2, 1)
    torch.testing.assert_close(psu_membrane(x, integration, reset, v_th), expected)


def test_estimate_integration_replaces_a_inside_the_estimate_only():
    T, v_th = 5, 0.3
    x = torch.rand(T, 2, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    a = lif_kernel_matrix(T, 2.0, dtype=F64)
    a2 = torch.eye(T, dtype=F64)
    r = reset_kernel_matrix(T, 2.0, dtype=F64)
    got = psu_membrane(x, a, r, v_th, estimate_integration=a2)
    ax = torch.einsum("ti,ibn->tbn", a, x)
    expected = ax - v_th * torch.einsum("ti,ibn->tbn", r, torch.sigmoid(x - v_th))
    torch.testing.assert_close(got, expected)
    # a tensor threshold broadcasts like a float one
    torch.testing.assert_close(
        psu_membrane(x, a, r, torch.tensor(v_th, dtype=F64), estimate_integration=a2), got
    )


def test_zero_reset_matrix_leaves_the_integrated_input():
    T = 4
    x = torch.randn(T, 3, dtype=F64, generator=torch.Generator().manual_seed(2))
    a = lif_kernel_matrix(T, 3.0, dtype=F64)
    zero = torch.zeros(T, T, dtype=F64)
    torch.testing.assert_close(psu_membrane(x, a, zero, 1.0), a @ x)
