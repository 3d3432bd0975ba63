"""The fused CPU "lif" kernel against the plain-torch reference (``backend="torch"``)."""

from __future__ import annotations

import dataclasses
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
from spikeforge.functional.alif import alif_sequence
from spikeforge.functional.leaky import LeakyParameters, leaky_scan
from spikeforge.functional.lif import LIFParameters, lif_sequence
from spikeforge.functional.state import LIFState
from spikeforge.kernels._fused_common import kernel_config
from spikeforge.kernels.cpu import _build
from spikeforge.kernels.cpu import lif as cpu_lif
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


# --- the custom ops: spikeforge::lif_forward / lif_backward --------------------------------
def _op_case(dtype, tensor_params: bool):
    """``(x, v0, k_t, th_t, cfg)`` of a PLIF layer with a per-neuron threshold (or floats);
    the tensor parameters are leaves that require grad."""
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(6, 3, 5, generator=gen, dtype=dtype) + 0.6
    v0 = torch.randn(3, 5, generator=gen, dtype=dtype) * 0.2
    if tensor_params:
        k = torch.tensor(0.3, dtype=dtype, requires_grad=True)
        th = (torch.rand(5, generator=gen, dtype=dtype) + 0.5).requires_grad_(True)
        p = LIFParameters(inv_tau=k, v_th=th, reset="subtract", v_reset=-0.1)
    else:
        p = LIFParameters(inv_tau=0.4, v_th=0.8)
    cfg, k_t, th_t = kernel_config(p)
    return x, v0, k_t, th_t, cfg


@pytest.mark.parametrize(
    ("dtype", "tensor_params"), [(torch.float32, False), (torch.float64, True)], ids=str
)
def test_ops_pass_torch_library_opcheck(dtype, tensor_params):
    """Schema, fake (meta) implementation against the real one, autograd registration and
    AOT dispatch, for the forward op and (called directly) the backward op."""
    x, v0, k_t, th_t, cfg = _op_case(dtype, tensor_params)
    x.requires_grad_(True)
    torch.library.opcheck(cpu_lif.lif_forward_op, (x, v0, k_t, th_t, *cpu_lif.cfg_args(cfg)))
    gs, gv = torch.randn_like(x), torch.randn_like(v0)
    # once differentiable: the backward op has no autograd formula, so no input needs grad
    k_t, th_t = (None if t is None else t.detach() for t in (k_t, th_t))
    args = (x.detach(), v0, gs, gv, k_t, th_t, *cpu_lif.cfg_args(cfg))
    for wants in ((tensor_params, tensor_params), (False, False)):
        torch.library.opcheck(cpu_lif.lif_backward_op, (*args, *wants))
    # x [6, 3, 5] as batch norm's input with 5 channels of 1 element: the affine form
    alpha, beta = torch.rand(5, dtype=dtype) + 0.5, torch.randn(5, dtype=dtype)
    torch.library.opcheck(cpu_lif.lif_backward_op, (*args, False, False, alpha, beta, 5, 1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_default_path_runs_the_op_and_equals_the_c_calls_bit_for_bit(dtype):
    """``backend="auto"`` goes through ``torch.ops.spikeforge.lif_forward`` and its results
    are exactly those of calling the C forward and backward directly (what the autograd
    Function did before the ops): nothing is changed on the way."""
    x, v0, k_t, th_t, cfg = _op_case(dtype, tensor_params=True)
    xg = x.clone().requires_grad_(True)
    p = LIFParameters(inv_tau=k_t, v_th=th_t, reset="subtract", v_reset=-0.1)
    spikes, state = lif_sequence(xg, LIFState(v0), p)
    assert "spikeforge_lif_forward" in type(spikes.grad_fn).__name__
    gs = torch.randn_like(x)
    gx, gk, gth = torch.autograd.grad((spikes * gs).sum() + state.v.sum(), [xg, k_t, th_t])
    s_c, v_c = cpu_lif._forward(x, v0, k_t.detach(), th_t.detach(), cfg)
    assert torch.equal(spikes, s_c) and torch.equal(state.v, v_c)
    ones = torch.ones_like(v0)
    direct = cpu_lif.run_backward(x, v0, gs, ones, k_t.detach(), th_t.detach(), cfg, True, True)
    assert torch.equal(gx, direct[0])
    assert torch.equal(gk, direct[2].sum_to_size(k_t.shape))
    assert torch.equal(gth, direct[3].sum_to_size(th_t.shape))


def test_only_the_final_membrane_used_gives_the_reference_gradient():
    """The spikes' gradient arrives as None (grads are not materialised) and counts as 0."""
    x = torch.randn(5, 2, 7, dtype=torch.float64) + 0.5
    grads = []
    for backend in ("cpu", "torch"):
        xg = x.clone().requires_grad_(True)
        _, state = lif_sequence(xg, backend=backend)
        grads.append(torch.autograd.grad(state.v.sum(), xg)[0])
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-12)


def test_the_constant_marker_is_the_one_torch_compiler_sets():
    marked = torch.compiler.assume_constant_result(lambda: None)
    assert (
        vars(marked)
        == vars(cpu_lif.constant_to_dynamo(lambda: None))
        == {"_dynamo_marked_constant": True}
    )
    assert cpu_lif.library_reason._dynamo_marked_constant is True


def test_library_reason_is_a_constant_to_dynamo(monkeypatch):
    """A loader that has not run yet (its lock, ctypes) is not traced: dynamo takes the
    availability as a constant, so the first call ever can be compiled without a break."""
    monkeypatch.setattr(_build, "STATE", _build._State())
    calls = _build.STATE.calls
    p = LIFParameters()  # built outside: dynamo cannot construct the default surrogate

    def f(x):
        return lif_sequence(x, p=p)[0]

    x = torch.randn(4, 2, 3) + 0.5
    compiled = torch.compile(f, fullgraph=True, backend="eager")
    assert torch.equal(compiled(x), lif_sequence(x, backend="torch")[0])
    assert calls["forward"] == 1 and _build.STATE.tried  # the compiled call ran the kernel


def test_define_op_registers_the_plain_function_not_a_dynamo_wrapper(monkeypatch):
    """``torch.library.custom_op`` runs its kernels through ``torch._disable_dynamo``, whose
    first call imports ``torch._dynamo`` (seconds, in every process); ``define_op``'s op
    calls the function itself. The control op shows the probe sees that wrapper."""
    import torch._dynamo

    wrapped: list[object] = []
    monkeypatch.setattr(torch._dynamo, "disable", lambda fn, *a, **k: wrapped.append(fn) or fn)

    @cpu_lif.define_op("spikeforge_test::twice")
    def twice(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    assert str(twice._schema) == "spikeforge_test::twice(Tensor x) -> Tensor"
    assert torch.equal(twice(torch.ones(2)), torch.full((2,), 2.0)) and wrapped == []

    @torch.library.custom_op("spikeforge_test::thrice", mutates_args=())
    def thrice(x: torch.Tensor) -> torch.Tensor:
        return x * 3

    assert torch.equal(thrice(torch.ones(2)), torch.full((2,), 3.0)) and len(wrapped) == 1


@pytest.mark.parametrize("family", ["lif", "leaky", "alif"])
def test_a_double_backward_is_refused_by_name(family):
    """``create_graph=True`` gives a first gradient; differentiating it again raises,
    naming the backward op, instead of returning wrong second derivatives."""
    x = torch.randn(4, 2, 5, dtype=torch.float64, requires_grad=True)
    zeros = torch.zeros(2, 5, dtype=torch.float64)
    if family == "lif":
        out = lif_sequence(x, backend="cpu")[1].v
    elif family == "leaky":
        out = leaky_scan(x, zeros, LeakyParameters("decay", 0.5), "cpu")[0]
    else:
        out = alif_sequence(x, backend="cpu")[1].v
    (g,) = torch.autograd.grad(out.pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match=f"spikeforge::{family}_backward is differentiable once"):
        g.sum().backward()


def _fma_reference(c, alpha, beta):
    """``c·α + β`` per channel (dim 2 of ``[T, B, C, ...]``) in float64: for float32 input
    the product is exact there, so rounding the sum to float32 is the one rounding of
    ``fma`` (a double rounding differs in about one element in 2^29)."""
    shape = (1, 1, -1) + (1,) * (c.dim() - 3)
    return c.double() * alpha.double().view(shape) + beta.double().view(shape)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize(
    ("charge", "reset", "tensor_params"),
    [(1, 0, False), (0, 1, False), (2, 2, False), (1, 0, True), (1, 1, True)],
    ids=str,
)
def test_backward_with_batch_norm_affine_equals_backward_on_the_affine_output(
    dtype, charge, reset, tensor_params, monkeypatch
):
    """The backward kernel fed batch norm's input and ``(α, β)`` gives exactly the
    gradients of the plain backward fed the rebuilt input ``fma(c, α, β)`` (from
    :func:`bn_affine`), also with blocks that cut through channels and with the τ / V_th
    gradients (which read the input again)."""
    g = torch.Generator().manual_seed(3)
    steps, batch, channels, h, w = 5, 3, 6, 3, 5
    c = torch.randn(steps, batch, channels, h, w, generator=g, dtype=dtype) * 2
    alpha = torch.rand(channels, generator=g, dtype=dtype) + 0.5
    beta = torch.randn(channels, generator=g, dtype=dtype) * 0.5
    src = cpu_lif.BNAffine(c, alpha, beta, channels, h * w)
    x = cpu_lif.bn_affine(src).reshape(c.shape)
    if dtype == torch.float32:
        assert torch.equal(x, _fma_reference(c, alpha, beta).float())
    else:
        assert torch.allclose(x, _fma_reference(c, alpha, beta), rtol=1e-14, atol=1e-14)
    v0 = torch.rand(batch, channels, h, w, generator=g, dtype=dtype)
    gs = torch.randn(c.shape, generator=g, dtype=dtype)
    gv = torch.randn(v0.shape, generator=g, dtype=dtype)
    k_t = th_t = None
    if tensor_params:
        k_t = torch.rand(1, channels, 1, 1, generator=g, dtype=dtype) * 0.5 + 0.2
        th_t = torch.rand(channels, 1, 1, generator=g, dtype=dtype) + 0.5
    p = LIFParameters(inv_tau=0.4, v_th=0.8, v_reset=-0.1)
    cfg = dataclasses.replace(kernel_config(p)[0], charge=charge, reset=reset)
    for block in ("7", ""):  # 7 neurons: blocks start mid-channel; "": the default size
        monkeypatch.setenv("SPIKEFORGE_CPU_BLOCK", block)
        want = tensor_params, tensor_params
        plain = cpu_lif.run_backward(x, v0, gs, gv, k_t, th_t, cfg, *want)
        fused = cpu_lif.run_backward(
            c, v0, gs, gv, k_t, th_t, cfg, *want, affine=(alpha, beta, channels, h * w)
        )
        for got, ref in zip(fused, plain, strict=True):
            assert (got is None) == (ref is None)
            assert got is None or torch.equal(got, ref), block


def test_bn_coefficients_are_the_fused_multiply_add_of_the_training_affine():
    """``α = invstd · w`` exactly; ``β = fma(-mean, α, b)`` (one rounding: checked in
    float64 for float32 input, where the product is exact); no weight / bias: 1 and 0."""
    g = torch.Generator().manual_seed(4)
    mean, bias = torch.randn(64, generator=g), torch.randn(64, generator=g)
    invstd, weight = torch.rand(64, generator=g) + 0.1, torch.randn(64, generator=g)
    alpha, beta = cpu_lif.bn_coefficients(mean, invstd, weight, bias)
    assert torch.equal(alpha, invstd * weight)
    exact = (bias.double() - mean.double() * alpha.double()).float()
    assert torch.equal(beta, exact)
    assert not torch.equal(beta, bias - mean * alpha)  # one rounding, not two: visible
    alpha, beta = cpu_lif.bn_coefficients(mean, invstd, None, None)
    assert torch.equal(alpha, invstd) and torch.equal(beta, -(mean * invstd))


def test_the_op_saves_batch_norm_input_only_where_a_resolver_says_so(monkeypatch):
    """With a resolver in ``BN_SOURCES`` the forward op saves the resolver's input
    instead of ``x`` and the gradient is unchanged; without one (or when it answers
    ``None``) it saves ``x``."""
    g = torch.Generator().manual_seed(5)
    c = torch.randn(4, 2, 3, 2, 2, generator=g)
    alpha, beta = torch.rand(3, generator=g) + 0.5, torch.randn(3, generator=g)
    src = cpu_lif.BNAffine(c, alpha, beta, 3, 4)
    x = cpu_lif.bn_affine(src).reshape(c.shape)
    p = LIFParameters(inv_tau=0.5, v_th=0.6)
    saved: list[torch.Tensor] = []

    def grad_with(resolver):
        monkeypatch.setattr(cpu_lif, "BN_SOURCES", [resolver] if resolver else [])
        xg = x.clone().requires_grad_(True)
        saved.clear()
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
            spikes, _ = lif_sequence(xg, LIFState(torch.zeros(2, 3, 2, 2)), p)
        (gx,) = torch.autograd.grad(
            (spikes * torch.arange(spikes.numel()).view_as(spikes)).sum(), xg
        )
        return gx, [t for t in saved if t.shape == x.shape]

    ref, kept = grad_with(None)
    assert any(t.data_ptr() != c.data_ptr() for t in kept)  # x itself
    got, kept = grad_with(lambda t: src)
    assert torch.equal(got, ref) and ref.abs().sum() > 0
    assert [t.data_ptr() for t in kept] == [c.data_ptr()]  # c, not x
    got, kept = grad_with(lambda t: None)
    assert torch.equal(got, ref) and all(t.data_ptr() != c.data_ptr() for t in kept)


def test_a_checkpoint_that_reruns_the_forward_unfused_stops_with_an_error(monkeypatch):
    """The saved tensors carry the form (six with ``α, β``, four without), so a
    checkpoint whose recomputation resolves differently from the original forward fails
    loudly instead of feeding ``x`` to a backward that expects batch norm's input."""
    from torch.utils.checkpoint import checkpoint

    g = torch.Generator().manual_seed(6)
    c = torch.randn(4, 2, 3, 2, 2, generator=g)
    src = cpu_lif.BNAffine(c, torch.rand(3, generator=g) + 0.5, torch.randn(3, generator=g), 3, 4)
    x = cpu_lif.bn_affine(src).reshape(c.shape).requires_grad_(True)
    answers = [src]  # the first call resolves, the recomputation's does not
    monkeypatch.setattr(cpu_lif, "BN_SOURCES", [lambda t: answers.pop() if answers else None])
    p = LIFParameters(inv_tau=0.5, v_th=0.6)
    v0 = torch.zeros(2, 3, 2, 2)
    spikes = checkpoint(lambda t: lif_sequence(t, LIFState(v0), p)[0], x, use_reentrant=False)
    assert not answers  # the original forward was fused
    with pytest.raises(RuntimeError, match="(?i)different number of tensors|recomput"):
        spikes.sum().backward()
