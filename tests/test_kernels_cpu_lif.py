"""The fused CPU "lif" kernel against the plain-torch reference (``backend="torch"``)."""

from __future__ import annotations

import itertools
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings

from lif_backends import (
    CHARGES,
    RESETS,
    SURROGATES,
    assert_matches_reference,
    assert_saves_only_the_inputs,
    float_parameter_case,
    per_channel_case,
    random_case,
    random_case_strategies,
    tensor_parameter_case,
)
from spikeforge.functional.lif import LIFParameters, lif_sequence
from spikeforge.kernels.cpu import _build
from spikeforge.kernels.cpu.lif import supports
from spikeforge.surrogates import Surrogate


@pytest.fixture(scope="module", autouse=True)
def _needs_kernel() -> None:
    reason = _build.unavailable_reason()
    if reason is not None:
        pytest.skip(f"fused CPU kernel unavailable: {reason}")


def _compare(x, v0, make_params, dtype):
    assert_matches_reference("cpu", x, v0, make_params, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize(
    ("charge", "reset", "detach"),
    list(itertools.product(CHARGES, RESETS, [False, True])),
    ids=lambda v: str(v),
)
def test_matches_reference_with_tensor_parameters(charge, reset, detach, surrogate, dtype):
    """PLIF inv_tau = sigmoid(w) (0-dim) and a per-neuron learnable threshold."""
    case = tensor_parameter_case(charge, reset, detach, surrogate, dtype, steps=7, graded=False)
    _compare(*case, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize(("charge", "reset"), list(itertools.product(CHARGES, RESETS)))
def test_matches_reference_with_float_parameters(charge, reset, surrogate, dtype):
    """The common path: scalar τ and V_th, gradients w.r.t. the input and v0 only."""
    _compare(*float_parameter_case(charge, reset, surrogate, dtype, shape=(9, 4, 13)), dtype)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**random_case_strategies(max_dim=6))
def test_random_shapes_and_parameter_shapes(
    shape, charge, reset, detach, surrogate, tau_kind, th_kind, f64, seed
):
    dtype = torch.float64 if f64 else torch.float32
    case = random_case(shape, charge, reset, detach, surrogate, tau_kind, th_kind, dtype, seed)
    _compare(*case, dtype)


def test_per_channel_parameters_on_conv_shaped_input():
    """inv_tau of shape [C, 1, 1] on [T, B, C, H, W]: the gradient is reduced per channel."""
    _compare(*per_channel_case((5, 2, 3, 4, 4), "zero"), torch.float64)


@pytest.mark.parametrize("stream", ["0", "1"])
def test_non_contiguous_input_and_many_blocks(monkeypatch, stream):
    """[B, T, N] transposed to [T, B, N]; tiny blocks exercise block tails and threads,
    and with non-temporal stores forced on, unaligned row heads and tails."""
    monkeypatch.setenv("SPIKEFORGE_CPU_BLOCK", "7")
    monkeypatch.setenv("SPIKEFORGE_CPU_STREAM", stream)
    gen = torch.Generator().manual_seed(5)
    base = torch.randn(6, 10, 50, generator=gen) + 0.5
    x = base.transpose(0, 1)
    assert not x.is_contiguous()
    v0 = torch.zeros(6, 50)
    make = lambda: (LIFParameters(reset="subtract"), [])  # noqa: E731
    _compare(x, v0, make, torch.float32)


def test_result_does_not_depend_on_thread_count():
    x = torch.randn(8, 4, 3000, generator=torch.Generator().manual_seed(2)) + 0.5
    xg = x.clone().requires_grad_(True)
    threads = torch.get_num_threads()
    outs = []
    try:
        for n in (1, max(2, threads)):
            torch.set_num_threads(n)
            s, st_ = lif_sequence(xg, backend="cpu")
            (g,) = torch.autograd.grad(s.sum() + st_.v.sum(), xg)
            outs.append((s, st_.v, g))
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(outs[0], outs[1], strict=True):
        assert torch.equal(a, b)


def test_streaming_two_halves_equals_whole():
    x = torch.randn(10, 3, 20, generator=torch.Generator().manual_seed(9)) + 0.5
    p = LIFParameters(reset="subtract")
    s_all, st_all = lif_sequence(x, p=p, backend="cpu")
    s1, st1 = lif_sequence(x[:4], p=p, backend="cpu")
    s2, st2 = lif_sequence(x[4:], st1, p=p, backend="cpu")
    assert torch.equal(torch.cat([s1, s2]), s_all)
    assert torch.equal(st2.v, st_all.v)


def test_saves_no_new_tensor_for_backward():
    """Backward recomputes H from the inputs: autograd keeps only x and v0 themselves."""
    assert_saves_only_the_inputs("cpu")


def test_no_grad_output_does_not_require_grad():
    x = torch.randn(3, 2, 5)
    s, st_ = lif_sequence(x, backend="cpu")
    assert not s.requires_grad and not st_.v.requires_grad


class _MySurrogate(Surrogate):
    def derivative(self, x):
        return torch.ones_like(x)


def test_supports_reports_what_it_cannot_do():
    x = torch.randn(3, 2, 4)
    assert supports(x, LIFParameters()) is None
    assert "dtype" in supports(x.half(), LIFParameters())
    assert "surrogate" in supports(x, LIFParameters(surrogate=_MySurrogate()))
    assert "dtype" in supports(x, LIFParameters(v_th=torch.tensor(1.0, dtype=torch.float64)))
    assert "broadcast" in supports(x, LIFParameters(v_th=torch.ones(3)))
    assert "enlarge" in supports(x, LIFParameters(v_th=torch.ones(5, 2, 4)))
    # auto silently takes the reference for what the kernel cannot do
    p = LIFParameters(surrogate=_MySurrogate())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s, _ = lif_sequence(x, p=p, backend="auto")
    assert torch.equal(s, lif_sequence(x, p=p, backend="torch")[0])
    with pytest.raises(ValueError, match="surrogate"):
        lif_sequence(x, p=p, backend="cpu")
