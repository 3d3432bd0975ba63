"""The fused CPU "psn" kernel (``Θ(W X + b)``, surrogate backward) against the torch path.

Results are equal to rounding, not bitwise: the C product sums the inner time index in
order with fused multiply-adds, MKL in its own order. So spikes are compared where the
reference membrane is farther than a rounding margin from the threshold (no mismatch is
allowed there; in practice none occurs at all), and gradients to a relative tolerance of
the largest entry (1e-12 in float64, 1e-5 in float32).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lif_backends import SURROGATES, saved_storages
from spikeforge.functional.parallel import (
    PSNParameters,
    threshold_spikes,
    threshold_spikes_reference,
)
from spikeforge.kernels.cpu import _build
from spikeforge.kernels.cpu import psn as cpu_psn
from spikeforge.neurons import PSN, MaskedPSN, ParaLIF, SlidingPSN
from spikeforge.surrogates import ATan, Sigmoid, Surrogate, spike

F64 = torch.float64
STEPS = [1, 3, 16, 17, 64]
#: dtype -> (gradient tolerance relative to the largest entry, membrane margin for spikes)
TOL = {F64: (1e-12, 1e-12), torch.float32: (1e-5, 1e-4)}


@pytest.fixture(scope="module", autouse=True)
def _needs_kernel() -> None:
    reason = _build.unavailable_reason()
    if reason is not None:
        pytest.skip(f"fused CPU kernel unavailable: {reason}")


@pytest.fixture(autouse=True)
def _small_blocks(monkeypatch) -> None:
    # 40 columns per block: the test inputs (29 or 87 columns) span several blocks and a
    # partial one, and 40 is not a multiple of the kernel's 32/16-column tiles.
    monkeypatch.setenv("SPIKEFORGE_PSN_BLOCK", "40")


def _assert_grads_close(new, ref, dtype) -> None:
    rel = TOL[dtype][0]
    for i, (a, b) in enumerate(zip(new, ref, strict=True)):
        assert (a is None) == (b is None), f"gradient {i}: presence differs"
        if a is not None:
            scale = max(float(b.abs().max()), 1e-300)
            torch.testing.assert_close(a, b, rtol=rel, atol=rel * scale, msg=f"gradient {i}")


def _assert_spikes_match(s_new, s_ref, u_ref, dtype) -> None:
    """Spikes agree wherever the reference membrane ``u`` (fires at ``u >= 0``) is more
    than the rounding margin away from 0; and the kernel's spikes are exactly 0/1."""
    margin = TOL[dtype][1] * max(1.0, float(u_ref.abs().max()))
    differ = s_new != s_ref
    assert not bool((differ & (u_ref.abs() > margin)).any()), "spikes differ off the margin"
    assert bool(((s_new == 0) | (s_new == 1)).all())


def _run(fn, leaves, g):
    """Spikes of ``fn()`` and the gradients of ``(spikes · g).sum()`` w.r.t. ``leaves``."""
    s = fn()
    grads = torch.autograd.grad((s * g).sum(), leaves, allow_unused=True)
    return s.detach(), grads


def _functional_case(T, n, dtype, with_bias, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(T, 3, n, generator=gen, dtype=dtype, requires_grad=True)
    w = (torch.randn(T, T, generator=gen, dtype=dtype) / T**0.5).requires_grad_(True)
    b = (0.3 * torch.randn(T, generator=gen, dtype=dtype)).requires_grad_(True)
    g = torch.randn(x.shape, generator=gen, dtype=dtype)
    return x, w, (b if with_bias else None), g


@pytest.mark.parametrize("dtype", [F64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: type(s).__name__)
def test_functional_matches_torch_for_every_surrogate(surrogate, with_bias, dtype):
    T = 17
    x, w, b, g = _functional_case(T, 29, dtype, with_bias)
    leaves = [t for t in (x, w, b) if t is not None]
    p = PSNParameters(w, b, surrogate)
    s_ref, g_ref = _run(lambda: threshold_spikes(x, p, "torch"), leaves, g)
    s_new, g_new = _run(lambda: threshold_spikes(x, p, "cpu"), leaves, g)
    u = torch.addmm(b[:, None], w, x.reshape(T, -1)) if b is not None else w @ x.reshape(T, -1)
    _assert_spikes_match(s_new, s_ref, u.reshape(x.shape).detach(), dtype)
    _assert_grads_close(g_new, g_ref, dtype)


def _neurons(kind: str, T: int) -> tuple[nn.Module, nn.Module]:
    """The same neuron (same parameters) with the torch path and with the cpu kernel."""
    torch.manual_seed(T)
    if kind == "psn":
        ref, new = PSN(T, init="kaiming", backend="torch"), PSN(T, backend="cpu")
    elif kind in ("masked_mid", "masked_full"):
        lam = 0.5 if kind == "masked_mid" else 1.0
        ref = MaskedPSN(T, k=3, mask_progress=lam, init="kaiming", backend="torch")
        new = MaskedPSN(T, k=3, mask_progress=lam, backend="cpu")
    elif kind == "sliding":
        ref = SlidingPSN(k=4, init="kaiming", backend="gemm", kernel="torch")
        new = SlidingPSN(k=4, backend="gemm", kernel="cpu")
    else:
        ref = ParaLIF("T", tau_mem=3.0, tau_syn=2.0, method="direct", backend="torch")
        new = ParaLIF("T", tau_mem=3.0, tau_syn=2.0, method="direct", backend="cpu")
    with torch.no_grad():
        ref.threshold.uniform_(-0.2, 0.4)
    new.load_state_dict(ref.state_dict())
    return ref.double(), new.double()


def _membrane(neuron: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The reference ``u`` (fires at ``u >= 0``) of each neuron kind."""
    if isinstance(neuron, PSN):
        return neuron.membrane(x)
    if isinstance(neuron, SlidingPSN):
        return neuron.charge(x) - neuron.threshold
    return neuron.membrane(x) - neuron.threshold


@pytest.mark.parametrize("T", STEPS)
@pytest.mark.parametrize("kind", ["psn", "masked_mid", "masked_full", "sliding", "paralif"])
def test_neurons_match_torch_in_float64(kind, T):
    ref, new = _neurons(kind, T)
    x = torch.randn(T, 3, 29, dtype=F64, requires_grad=True)
    g = torch.randn(x.shape, dtype=F64)
    leaves_ref = [x, *(p for p in ref.parameters())]
    leaves_new = [x, *(p for p in new.parameters())]
    s_ref, g_ref = _run(lambda: ref(x), leaves_ref, g)
    calls = _build.STATE.calls.get("psn_backward", 0)
    s_new, g_new = _run(lambda: new(x), leaves_new, g)
    assert _build.STATE.calls.get("psn_backward", 0) == calls + 1  # the kernel ran
    _assert_spikes_match(s_new, s_ref, _membrane(ref, x).detach(), F64)
    _assert_grads_close(g_new, g_ref, F64)


def test_auto_backend_takes_the_kernel_for_cpu_float_inputs():
    x = torch.randn(5, 2, 7)
    before = _build.STATE.calls.get("psn_forward", 0)
    PSN(5)(x)  # backend="auto" by default
    assert _build.STATE.calls.get("psn_forward", 0) == before + 1
    with torch.no_grad():  # the reference path does not touch the kernel
        PSN(5, backend="torch")(x)
    assert _build.STATE.calls.get("psn_forward", 0) == before + 1


def test_torch_backend_is_the_unchanged_reference():
    psn = PSN(6, init="kaiming", backend="torch")
    x = torch.randn(6, 4, 5)
    assert torch.equal(psn(x), spike(psn.membrane(x), psn.surrogate))


def test_band_limited_weight_gradient_is_exact_inside_and_zero_outside():
    T, k = 9, 3
    x, w, b, g = _functional_case(T, 29, F64, True, seed=3)
    full = threshold_spikes_reference(x, PSNParameters(w, b, ATan()))
    ref = torch.autograd.grad((full * g).sum(), w)[0]
    p = PSNParameters(w, b, ATan(), grad_band=(0, k - 1))
    got = torch.autograd.grad((threshold_spikes(x, p, "cpu") * g).sum(), w)[0]
    lag = torch.arange(T)[:, None] - torch.arange(T)[None, :]
    band = (lag >= 0) & (lag < k)
    torch.testing.assert_close(got[band], ref[band], rtol=1e-12, atol=1e-12)
    assert bool((got[~band] == 0).all())


def test_masked_psn_at_full_mask_gives_the_same_weight_gradient():
    # the band is the caller's promise: through the mask, the entries outside it get 0
    ref, new = _neurons("masked_full", 16)
    x = torch.randn(16, 2, 33, dtype=F64)
    for neuron in (ref, new):
        neuron(x).sum().backward()
    torch.testing.assert_close(new.weight.grad, ref.weight.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("T", [200, 400], ids=["lane_accumulators", "per_block_reduction"])
def test_long_sequences_weight_gradient_paths(T):
    """dW is summed in per-thread vector lanes while they fit (8 MiB: T <= 362), else
    reduced block by block: both match torch."""
    x, w, b, g = _functional_case(T, 29, F64, True, seed=T)
    p = PSNParameters(w, b, ATan())
    s_ref, g_ref = _run(lambda: threshold_spikes(x, p, "torch"), (x, w, b), g)
    s_new, g_new = _run(lambda: threshold_spikes(x, p, "cpu"), (x, w, b), g)
    u = torch.addmm(b[:, None], w, x.reshape(T, -1)).reshape(x.shape).detach()
    _assert_spikes_match(s_new, s_ref, u, F64)
    _assert_grads_close(g_new, g_ref, F64)


@pytest.mark.parametrize("dtype", [F64, torch.float32], ids=["f64", "f32"])
def test_streaming_stores_write_the_same_outputs(monkeypatch, dtype):
    """Non-temporal stores (rows of 87 columns: most start unaligned, blocks of 40) give
    the bytes the plain stores give."""
    x, w, b, g = _functional_case(17, 29, dtype, True, seed=9)
    p = PSNParameters(w, b, ATan())
    outs = []
    for stream in ("0", "1"):
        monkeypatch.setenv("SPIKEFORGE_PSN_STREAM", stream)
        assert cpu_psn.stream_outputs() == int(stream)
        outs.append(_run(lambda: threshold_spikes(x, p, "cpu"), (x, w, b), g))
    assert torch.equal(outs[0][0], outs[1][0])
    assert all(torch.equal(a, c) for a, c in zip(outs[0][1], outs[1][1], strict=True))


def test_two_threads_agree_with_one():
    x, w, b, g = _functional_case(16, 87, torch.float32, True, seed=5)
    p = PSNParameters(w, b, Sigmoid())
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        s1, g1 = _run(lambda: threshold_spikes(x, p, "cpu"), (x, w, b), g)
        torch.set_num_threads(2)
        s2, g2 = _run(lambda: threshold_spikes(x, p, "cpu"), (x, w, b), g)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(s1, s2) and torch.equal(g1[0], g2[0])  # per column: same order
    _assert_grads_close(g2, g1, torch.float32)  # dW, db: per-thread sums, reduced in order


class _SmoothLossFusedGrad(torch.autograd.Function):
    """Forward: ``Σ g · σ(W X + b)`` with the surrogate's smooth primitive σ; backward:
    the fused kernel's gradient of ``Σ g · Θ(W X + b)``, which is that function's exact
    gradient if the kernel's surrogate backward is right."""

    @staticmethod
    def forward(ctx, x, w, b, g, surrogate: Surrogate):
        ctx.save_for_backward(x, w, b, g)
        ctx.surrogate = surrogate
        u = torch.addmm(b[:, None], w, x.reshape(x.shape[0], -1)).reshape(x.shape)
        return (g * surrogate.primitive(u)).sum()

    @staticmethod
    def backward(ctx, grad):
        x, w, b, g = ctx.saved_tensors
        with torch.enable_grad():
            leaves = [t.detach().requires_grad_(True) for t in (x, w, b)]
            p = PSNParameters(leaves[1], leaves[2], ctx.surrogate)
            s = threshold_spikes(leaves[0], p, "cpu")
            gx, gw, gb = torch.autograd.grad(s, leaves, g)
        return grad * gx, grad * gw, grad * gb, None, None


@pytest.mark.parametrize(
    "surrogate", [ATan(alpha=1.5), Sigmoid(alpha=2.0)], ids=["atan", "sigmoid"]
)
def test_float64_gradcheck_against_the_smooth_primitive(surrogate):
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(4, 2, 3, generator=gen, dtype=F64, requires_grad=True)
    w = torch.randn(4, 4, generator=gen, dtype=F64, requires_grad=True)
    b = torch.randn(4, generator=gen, dtype=F64, requires_grad=True)
    g = torch.randn(x.shape, generator=gen, dtype=F64)
    assert torch.autograd.gradcheck(
        lambda x, w, b: _SmoothLossFusedGrad.apply(x, w, b, g, surrogate), (x, w, b)
    )


def test_saves_only_references_to_the_inputs():
    x, w, b, _ = _functional_case(8, 29, torch.float32, True)
    saved = saved_storages(lambda: threshold_spikes(x, PSNParameters(w, b, ATan()), "cpu"))
    assert saved == {t.untyped_storage().data_ptr() for t in (x, w, b)}


def test_no_double_backward():
    x, w, b, g = _functional_case(4, 5, F64, True)
    s = threshold_spikes(x, PSNParameters(w, b, ATan()), "cpu")
    (gx,) = torch.autograd.grad((s * g).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiable once"):
        gx.sum().backward()


@pytest.mark.slow  # ~4 s: opcheck imports torch._dynamo
def test_ops_pass_torch_library_opcheck():
    x, w, b, _ = _functional_case(5, 7, torch.float32, True)
    # schema, fake (meta) implementation and autograd registration; the AOT-dispatch check
    # compiles (seconds): test_compiles_and_exports_as_one_graph covers compile and export
    utils = ("test_schema", "test_autograd_registration", "test_faketensor")
    op = torch.ops.spikeforge.psn_forward.default
    torch.library.opcheck(op, (x, w, b, 0, 2.0, 0.0, -4, 4), test_utils=utils)


def test_unsupported_inputs_name_the_reason_and_auto_falls_back():
    x = torch.randn(4, 2, 3)
    w64 = torch.randn(4, 4, dtype=F64)
    p = PSNParameters(w64, None, ATan())
    assert "dtype" in cpu_psn.supports(x, p)
    with pytest.raises(ValueError, match=r"cannot run here: weight is torch.float64"):
        threshold_spikes(x, p, "cpu")
    with pytest.raises(ValueError, match=r"weight must be \[T, T\] with T = 4"):
        threshold_spikes(x, PSNParameters(torch.randn(3, 4), None, ATan()), "auto")
    half = x.half()
    assert "float16" in cpu_psn.supports(half, PSNParameters(w64.half(), None, ATan()))


def test_falls_back_to_torch_when_the_library_is_unavailable(monkeypatch):
    state = _build._State()
    state.tried, state.reason = True, "simulated: no compiler"
    monkeypatch.setattr(_build, "STATE", state)
    psn = PSN(6, init="kaiming")
    x = torch.randn(6, 2, 5)
    with pytest.warns(RuntimeWarning, match="simulated: no compiler"):
        s = psn(x)
    assert torch.equal(s, spike(psn.membrane(x), psn.surrogate))
    assert "psn_forward" not in state.calls
    psn.backend = "cpu"
    with pytest.raises(ValueError, match="simulated: no compiler"):
        psn(x)


def test_block_size_fits_the_budget_and_the_environment(monkeypatch):
    monkeypatch.delenv("SPIKEFORGE_PSN_BLOCK")
    for T in (4, 64, 1024):
        block = cpu_psn.block_size(T, 1 << 20, 4)
        assert block % 16 == 0 and cpu_psn.MIN_BLOCK <= block <= cpu_psn.MAX_BLOCK
        assert block == cpu_psn.MIN_BLOCK or 3 * T * 4 * block <= cpu_psn.BLOCK_BYTES
    monkeypatch.setenv("SPIKEFORGE_PSN_BLOCK", "7")
    assert cpu_psn.block_size(64, 1000, 4) == 7


@pytest.mark.slow
def test_compiles_and_exports_as_one_graph():
    """``torch.compile(fullgraph=True)`` runs the fused forward and backward (no graph
    break at the ctypes call) with eager's results; ``torch.export`` records the op."""
    torch.manual_seed(0)
    layer = PSN(8, init="kaiming", backend="cpu")
    x = torch.randn(8, 2, 21)
    compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")
    before = _build.STATE.calls.get("psn_backward", 0)
    outs = []
    for module in (compiled, layer):
        xg = x.clone().requires_grad_(True)
        module.zero_grad()
        s = module(xg)
        s.sum().backward()
        outs.append((s, xg.grad, layer.weight.grad.clone()))
    assert _build.STATE.calls.get("psn_backward", 0) == before + 2
    for a, b in zip(*outs, strict=True):
        assert torch.equal(a, b)
    program = torch.export.export(layer.eval(), (x,))
    assert "spikeforge.psn_forward" in str(program.graph)
    assert torch.equal(program.module()(x), layer(x))


@pytest.mark.parametrize("backend", ["cpu", "torch"])
@pytest.mark.parametrize(
    ("neuron", "options"),
    [
        ("psn", "T: 4, init: kaiming"),
        ("masked_psn", "T: 4, k: 2, mask_progress: 0.5"),
        ("sliding_psn", "k: 2, backend: gemm"),
        ("paralif", "spike_fn: T, method: direct"),
    ],
)
def test_backend_option_reaches_the_kernel_from_a_config(neuron, options, backend):
    """``model.neuron_kwargs`` picks the kernel of each neuron (engine entry point):
    ``backend`` (``kernel`` for the sliding PSN, whose ``backend`` is its charge's form)."""
    from spikeforge.engine.build import build_model
    from spikeforge.engine.config import load_config

    key = "kernel" if neuron == "sliding_psn" else "backend"
    config = load_config(
        None,
        [
            f"model.neuron={neuron}",
            f"model.neuron_kwargs={{{options}, {key}: {backend}}}",
            "model.kwargs={widths: [4, 8]}",
        ],
    )

    class Digits(list):  # the shape and classes of the default data, without loading it
        classes = tuple(range(10))

    model = build_model(config, Digits([(torch.zeros(1, 8, 8), 0)]))
    before = dict(_build.STATE.calls)
    model(3 * torch.rand(4, 2, 1, 8, 8)).sum().backward()
    ran = [_build.STATE.calls.get(k, 0) - before.get(k, 0) for k in ("psn_forward", "psn_backward")]
    assert ran == ([2, 2] if backend == "cpu" else [0, 0])  # csnn_tiny: two neuron layers


def test_non_contiguous_and_empty_inputs():
    x, w, b, g = _functional_case(6, 29, F64, True, seed=7)
    xt = x.detach().transpose(1, 2).requires_grad_(True)  # [6, 29, 3], not contiguous
    p = PSNParameters(w, b, ATan())
    s_ref, g_ref = _run(lambda: threshold_spikes(xt, p, "torch"), (xt, w, b), g.transpose(1, 2))
    s_new, g_new = _run(lambda: threshold_spikes(xt, p, "cpu"), (xt, w, b), g.transpose(1, 2))
    assert torch.equal(s_new, s_ref)
    _assert_grads_close(g_new, g_ref, F64)
    empty = torch.zeros(6, 0, 3, dtype=F64, requires_grad=True)
    s = threshold_spikes(empty, p, "cpu")
    gx, gw, gb = torch.autograd.grad(s.sum(), (empty, w, b))
    assert s.shape == (6, 0, 3) and gx.shape == (6, 0, 3)
    assert not gw.any() and not gb.any()


def test_sliding_psn_uses_the_kernel_only_for_the_gemm_form_from_rest():
    x = torch.randn(8, 2, 5, generator=torch.Generator().manual_seed(0))
    calls = _build.STATE.calls
    before = calls.get("psn_forward", 0)
    SlidingPSN(k=3, backend="gemm", kernel="cpu")(x)
    assert calls.get("psn_forward", 0) == before + 1
    neuron = SlidingPSN(k=3, backend="shift", kernel="cpu")
    streamed, state = neuron.run(x[:4])  # the shift form: torch
    neuron.run(x[4:], state)  # streaming with a state: torch
    assert calls.get("psn_forward", 0) == before + 1
    gemm = SlidingPSN(k=3, backend="gemm", kernel="cpu")
    gemm.load_state_dict(neuron.state_dict())
    assert torch.equal(gemm(x[:4]), streamed)
