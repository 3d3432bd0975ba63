"""Linear-in-time operators of spikeforge.functional.parallel against loop references."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.functional import LIFParameters, li_sequence
from spikeforge.functional.parallel import (
    causal_band_mask,
    causal_conv_fft,
    causal_conv_shift,
    causal_conv_time,
    kernel_to_causal_filter,
    leaky_impulse_response,
    leaky_integrate,
    lif_kernel_matrix,
    reset_kernel_matrix,
    shift_in_time,
    temporal_matmul,
    toeplitz_from_kernel,
)

F64 = torch.float64


@pytest.mark.parametrize("decay_input", [True, False])
def test_lif_kernel_matrix_is_the_no_reset_lif(decay_input: bool) -> None:
    torch.manual_seed(0)
    x = torch.randn(9, 3, 4, dtype=F64)
    w = lif_kernel_matrix(9, 3.0, decay_input, dtype=F64)
    p = LIFParameters(inv_tau=1.0 / 3.0, decay_input=decay_input)
    v, _ = li_sequence(x, None, p)
    torch.testing.assert_close(temporal_matmul(w, x), v, rtol=0, atol=1e-13)
    assert torch.equal(w, torch.tril(w))


def test_reset_matrix_and_band_mask_definitions() -> None:
    r = reset_kernel_matrix(5, 4.0, dtype=F64)
    m = causal_band_mask(5, 2)
    for t in range(5):
        for i in range(5):
            assert r[t, i] == (0.75 ** (t - i) if i < t else 0.0)
            assert m[t, i] == (1.0 if i <= t <= i + 1 else 0.0)
    assert torch.equal(causal_band_mask(4, 10), torch.tril(torch.ones(4, 4)))


def test_toeplitz_convolutions_agree() -> None:
    torch.manual_seed(1)
    x = torch.randn(11, 2, 3, dtype=F64)
    w = torch.randn(4, dtype=F64)
    ref = torch.zeros_like(x)
    for t in range(11):
        for i in range(4):
            src = t - 4 + 1 + i
            if src >= 0:
                ref[t] += w[i] * x[src]
    h = kernel_to_causal_filter(w)
    torch.testing.assert_close(temporal_matmul(toeplitz_from_kernel(w, 11), x), ref)
    torch.testing.assert_close(causal_conv_time(x, h), ref)
    torch.testing.assert_close(causal_conv_shift(x, h), ref)
    torch.testing.assert_close(causal_conv_fft(x, torch.cat([h, torch.zeros(7, dtype=F64)])), ref)
    # Kernel longer than the sequence: only the first T lags matter.
    torch.testing.assert_close(causal_conv_shift(x[:2], h), ref[:2])


def test_temporal_matmul_bias_and_shape_errors() -> None:
    x = torch.randn(3, 2, dtype=F64)
    w = torch.eye(3, dtype=F64)
    b = torch.tensor([1.0, 2.0, 3.0], dtype=F64)
    torch.testing.assert_close(temporal_matmul(w, x, b), x + b[:, None])
    torch.testing.assert_close(temporal_matmul(w, x, 0.5), x + 0.5)
    with pytest.raises(ValueError, match="T = 3"):
        temporal_matmul(torch.eye(4), x)


@pytest.mark.parametrize("alpha", [None, math.exp(-0.5)])
@pytest.mark.parametrize("T", [1, 6, 40])
def test_leaky_integration_fft_direct_and_recursion_agree(alpha: float | None, T: int) -> None:
    torch.manual_seed(2)
    beta = math.exp(-1 / 3)
    x = torch.randn(T, 2, 5, dtype=F64)
    h = leaky_impulse_response(T, beta, alpha, dtype=F64)
    fft = leaky_integrate(x, h, "fft")
    direct = leaky_integrate(x, h, "direct")
    torch.testing.assert_close(fft, direct, rtol=0, atol=1e-12)
    cur = torch.zeros_like(x[0])
    m = torch.zeros_like(x[0])
    for t in range(T):
        cur = (alpha or 0.0) * cur + x[t]
        m = beta * m + (1 - beta) * cur
        torch.testing.assert_close(direct[t], m, rtol=0, atol=1e-12)


def test_leaky_integrate_rejects_bad_arguments() -> None:
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match="method"):
        leaky_integrate(x, torch.ones(4), "loop")
    with pytest.raises(ValueError, match="at least T = 4"):
        leaky_integrate(x, torch.ones(3))


def test_shift_in_time() -> None:
    x = torch.arange(1.0, 4.0)[:, None]
    assert shift_in_time(x).flatten().tolist() == [0.0, 1.0, 2.0]


def test_kernel_matrices_are_differentiable() -> None:
    w = torch.randn(3, dtype=F64, requires_grad=True)
    x = torch.randn(6, 2, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda w, x: temporal_matmul(toeplitz_from_kernel(w, 6), x), (w, x)
    )
    tau = torch.tensor(2.5, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda tau: lif_kernel_matrix(4, tau, dtype=F64), (tau,))


@pytest.mark.parametrize("tau", [math.nan, math.inf, 0.5])
def test_kernel_matrices_refuse_non_finite_or_small_tau(tau):
    with pytest.raises(ValueError, match="tau must be a finite number >= 1"):
        lif_kernel_matrix(4, tau)
    with pytest.raises(ValueError, match="tau must be a finite number >= 1"):
        reset_kernel_matrix(4, tau)
