"""The Triton "lif" kernel against the plain-torch reference (``backend="torch"``).

The kernels run in Triton's interpreter (``TRITON_INTERPRET=1``, set per test by an
autouse fixture and restored afterwards, so other modules' ``backend="auto"`` on CPU
tensors never reaches this kernel). The interpreter executes the same kernel source
with numpy, one IEEE rounding per operation, so spikes must be bit-identical to the
reference. Shapes stay small: the interpreter costs tens of milliseconds per launch.
``test_kernels_triton_kernels.py`` compiles the kernel source for a real GPU (sm_90)
without one, so a kernel that only the interpreter accepts fails there too.

Tests that take the ``target`` fixture run once per target: ``interpreter`` (CPU
tensors, always) and, where torch sees a CUDA GPU, ``cuda`` (the compiled kernels on
CUDA tensors against the torch reference on the same GPU). So on a GPU machine
``pytest tests/test_kernels_triton_lif.py`` checks the whole equivalence grid compiled.
Where the installed Triton's interpreter cannot run the kernels (Triton < 3.7 with
numpy >= 2.4, see :func:`~spikeforge.kernels.triton.lif.interpreter_reason`), the
interpreted runs are skipped with that reason and the compiled ones still run.
"""

from __future__ import annotations

import itertools
import sys

import pytest
import torch
from hypothesis import HealthCheck, given, settings

triton = pytest.importorskip("triton")

from lif_backends import (  # noqa: E402
    CHARGES,
    RESETS,
    SURROGATES,
    TOL,
    assert_matches_reference,
    assert_saves_only_the_inputs,
    float_parameter_case,
    per_channel_case,
    random_case,
    random_case_strategies,
    tensor_parameter_case,
)
from spikeforge.functional.lif import LIFParameters, lif_sequence  # noqa: E402
from spikeforge.functional.state import LIFState  # noqa: E402
from spikeforge.kernels import dispatch  # noqa: E402
from spikeforge.kernels.cpu import _build as cpu_build  # noqa: E402
from spikeforge.kernels.cpu.lif import lif_sequence_cpu  # noqa: E402
from spikeforge.kernels.triton import lif as tlif  # noqa: E402
from spikeforge.kernels.triton.lif import lif_sequence_triton, supports  # noqa: E402
from spikeforge.neurons.lif import IF, LIF, PLIF  # noqa: E402
from spikeforge.surrogates import Sigmoid, Surrogate  # noqa: E402

pytestmark = pytest.mark.usefixtures("interpret")  # see conftest.py

HALF_TOL = {
    torch.float16: {"rtol": 2**-10, "atol": 1e-4},
    torch.bfloat16: {"rtol": 2**-7, "atol": 1e-3},
}


def _compare(x, v0, make_params, dtype):
    """``x``, ``v0`` and the parameters of ``make_params`` on the target device."""
    calls = tlif.CALLS["forward"], tlif.CALLS["backward"]
    assert_matches_reference("triton", x, v0, make_params, dtype)
    assert (tlif.CALLS["forward"], tlif.CALLS["backward"]) == (calls[0] + 1, calls[1] + 1)


@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize(
    ("charge", "reset", "detach"),
    list(itertools.product(CHARGES, RESETS, [False, True])),
    ids=lambda v: str(v),
)
def test_matches_reference_with_tensor_parameters(charge, reset, detach, surrogate, target):
    """PLIF inv_tau = sigmoid(w) (0-dim), a per-neuron learnable threshold and graded
    spikes; float64 for all combinations, float32 on half of them (alternating)."""
    dtypes = [torch.float64]
    if (CHARGES.index(charge) + RESETS.index(reset) + detach + SURROGATES.index(surrogate)) % 2:
        dtypes.append(torch.float32)
    for dtype in dtypes:
        case = tensor_parameter_case(
            charge, reset, detach, surrogate, dtype, steps=5, graded=True, device=target
        )
        _compare(*case, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize(("charge", "reset"), list(itertools.product(CHARGES, RESETS)))
def test_matches_reference_with_float_parameters(charge, reset, surrogate, dtype, target):
    """The common path: scalar τ and V_th, gradients w.r.t. the input and v0 only."""
    case = float_parameter_case(charge, reset, surrogate, dtype, shape=(8, 2, 13), device=target)
    _compare(*case, dtype)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(**random_case_strategies(max_dim=7))
def test_random_shapes_and_parameter_shapes(
    shape, charge, reset, detach, surrogate, tau_kind, th_kind, f64, seed, target
):
    """Neuron counts around the (shrunk) block size: several programs and a partial one."""
    dtype = torch.float64 if f64 else torch.float32
    shape = [shape[0], shape[1] * 8, *shape[2:]]  # N from 8 to a few hundred
    case = random_case(
        shape, charge, reset, detach, surrogate, tau_kind, th_kind, dtype, seed, target
    )
    with pytest.MonkeyPatch.context() as mp:  # hypothesis reruns the body: no fixture
        if target.type == "cpu":
            mp.setenv("TRITON_INTERPRET", "1")
        mp.setenv("SPIKEFORGE_TRITON_BLOCK", "32")
        _compare(*case, dtype)


def test_per_channel_parameters_on_conv_shaped_input(monkeypatch, target):
    """[T, B, C, H, W] with inv_tau and v_th of shape [C, 1, 1]: per-channel gradients;
    N = 2·3·5·7 = 210 neurons is no multiple of the 64-neuron block."""
    monkeypatch.setenv("SPIKEFORGE_TRITON_BLOCK", "64")
    _compare(*per_channel_case((6, 2, 3, 5, 7), "subtract", target), torch.float64)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_half_precision_computes_in_float32(dtype, monkeypatch, target):
    """float16 / bfloat16 in, float32 registers inside: spikes equal the reference run in
    float32 on the same values; outputs and gradients are that result rounded once."""
    monkeypatch.setenv("SPIKEFORGE_TRITON_BLOCK", "64")
    gen = torch.Generator().manual_seed(4)
    x = (torch.randn(6, 4, 37, generator=gen) + 0.5).to(dtype)
    v0 = (torch.randn(4, 37, generator=gen) * 0.2).to(dtype)
    th = (torch.rand(37, generator=gen) * 0.5 + 0.7).to(dtype)
    gs = torch.randn(x.shape, generator=gen).to(dtype)
    x, v0, th, gs = (t.to(target) for t in (x, v0, th, gs))

    def run(backend, cast):
        x_ = x.to(cast).requires_grad_(True)
        v0_ = v0.to(cast).requires_grad_(True)
        th_ = th.to(cast).requires_grad_(True)
        p = LIFParameters(inv_tau=0.4, v_th=th_, reset="subtract", surrogate=Sigmoid())
        s, state = lif_sequence(x_, LIFState(v0_), p, backend=backend)
        grads = torch.autograd.grad((s * gs.to(cast)).sum() + state.v.sum(), [x_, v0_, th_])
        return s, state.v, grads

    s, v, grads = run("triton", dtype)
    s_ref, v_ref, grads_ref = run("torch", torch.float32)
    assert s.dtype == dtype and v.dtype == dtype
    assert all(g.dtype == dtype for g in grads)
    assert torch.equal(s.float(), s_ref)
    # The final membrane is the float32 one rounded once: exactly for float16; for
    # bfloat16 the interpreter truncates float32 -> bfloat16 instead of rounding to nearest
    # (the GPU rounds), so within one bfloat16 ulp. Gradients: within an ulp as well (exp
    # and the order of a few float32 operations differ by a float32 ulp).
    tol = HALF_TOL[dtype]
    exact = {"rtol": 0, "atol": 0} if dtype == torch.float16 else tol
    torch.testing.assert_close(v, v_ref.to(dtype), **exact)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(g, g_ref.to(dtype), **tol)


@pytest.mark.parametrize("which", ["spikes", "v", "both"])
def test_gradient_of_spikes_only_or_final_state_only(which, target):
    """Backward gets ``None`` for an unused output (no zero tensor is made for it)."""
    gen = torch.Generator().manual_seed(21)
    x = (torch.randn(6, 3, 17, generator=gen, dtype=torch.float64) + 0.4).to(target)
    v0 = (torch.randn(3, 17, generator=gen, dtype=torch.float64) * 0.1).to(target)
    out = {}
    for backend in ("torch", "triton"):
        x_ = x.clone().requires_grad_(True)
        v0_ = v0.clone().requires_grad_(True)
        p = LIFParameters(charge="lif", decay_input=False, inv_tau=0.25, reset="zero")
        s, state = lif_sequence(x_, LIFState(v0_), p, backend=backend)
        loss = {"spikes": s.sum(), "v": state.v.pow(2).sum(), "both": s.sum() + state.v.sum()}
        out[backend] = torch.autograd.grad(loss[which], [x_, v0_])
    for a, b in zip(out["triton"], out["torch"], strict=True):
        torch.testing.assert_close(a, b, **TOL[torch.float64])


def test_single_step_single_neuron_and_non_contiguous_input(monkeypatch, target):
    monkeypatch.setenv("SPIKEFORGE_TRITON_BLOCK", "16")

    def make():
        return LIFParameters(reset="subtract", v_th=torch.tensor(0.7, device=target)), []

    one = torch.tensor([[1.0]], device=target)
    _compare(one, torch.zeros(1, device=target), make, torch.float32)
    base = torch.randn(5, 4, 40, generator=torch.Generator().manual_seed(5)) + 0.5
    x = base.to(target).transpose(0, 1)  # [B, T, N] stored, [T, B, N] seen
    assert not x.is_contiguous()
    _compare(x, torch.zeros(5, 40, device=target), make, torch.float32)


def test_streaming_two_halves_equals_whole(target):
    x = (torch.randn(8, 3, 20, generator=torch.Generator().manual_seed(9)) + 0.5).to(target)
    p = LIFParameters(reset="subtract")
    s_all, st_all = lif_sequence(x, p=p, backend="triton")
    s1, st1 = lif_sequence(x[:3], p=p, backend="triton")
    s2, st2 = lif_sequence(x[3:], st1, p=p, backend="triton")
    assert torch.equal(torch.cat([s1, s2]), s_all)
    assert torch.equal(st2.v, st_all.v)


@pytest.mark.no_interpreter
def test_without_interpreter_cpu_tensors_get_the_reason_and_auto_falls_back(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET")
    x = torch.randn(3, 2, 4)
    p = LIFParameters()
    reason = supports(x, p)
    assert reason == "input is on cpu, the triton kernel needs a CUDA tensor"
    f0 = tlif.CALLS["forward"]
    expected = lif_sequence_cpu if cpu_build.unavailable_reason() is None else None
    chosen = dispatch("lif", "auto", x, p)
    assert chosen is not lif_sequence_triton
    if expected is not None:
        assert chosen is expected
    s, _ = lif_sequence(x, p=p, backend="auto")
    assert torch.equal(s, lif_sequence(x, p=p, backend="torch")[0])
    assert tlif.CALLS["forward"] == f0
    with pytest.raises(ValueError, match="triton kernel needs a CUDA tensor"):
        lif_sequence(x, p=p, backend="triton")


@pytest.mark.no_interpreter
def test_missing_triton_is_the_first_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "triton", None)  # what `import triton` then refuses
    assert supports(torch.randn(3, 2, 4), LIFParameters()) == "triton is not installed"
    with pytest.raises(ValueError, match="triton is not installed"):
        lif_sequence(torch.randn(3, 2, 4), backend="triton")


@pytest.mark.no_interpreter
@pytest.mark.parametrize("version", ["3.6.0", "3.7.0", "3.9.0+git5"])
def test_interpreter_reason_names_old_triton_with_strict_numpy(version, monkeypatch):
    """Triton < 3.7's interpreter fails where numpy refuses ``int()`` of a one-element
    array; then ``supports`` gives that reason for CPU tensors and ``auto`` moves on."""
    import numpy as np

    monkeypatch.setattr(triton, "__version__", version)
    tlif.interpreter_reason.cache_clear()
    try:
        reason = tlif.interpreter_reason()
    finally:
        tlif.interpreter_reason.cache_clear()  # the real version again for later tests
    try:
        int(np.ones(1))  # type: ignore[arg-type]
        strict = False
    except TypeError:
        strict = True
    if version == "3.6.0" and strict:
        assert reason is not None and "Triton 3.6.0" in reason and "3.7" in reason
        monkeypatch.setattr(tlif, "interpreter_reason", lambda: reason)
        x = torch.randn(3, 2, 4)
        assert supports(x, LIFParameters()) == reason
        assert dispatch("lif", "auto", x, LIFParameters()) is not lif_sequence_triton
        with pytest.raises(ValueError, match="interpreter cannot run"):
            lif_sequence(x, backend="triton")
    else:
        assert reason is None
    assert tlif._version_tuple("3.10.1rc2+abc") == (3, 10, 1)


class _MySurrogate(Surrogate):
    def derivative(self, x):
        return torch.ones_like(x)


def test_supports_reports_what_it_cannot_do(monkeypatch):
    x = torch.randn(3, 2, 4)
    assert supports(x, LIFParameters()) is None
    assert supports(x.half(), LIFParameters()) is None
    assert "dtype" in supports(x.int(), LIFParameters())
    assert "[T, B, ...]" in supports(torch.randn(3), LIFParameters())
    assert "surrogate" in supports(x, LIFParameters(surrogate=_MySurrogate()))
    assert "dtype" in supports(x, LIFParameters(v_th=torch.tensor(1.0, dtype=torch.float64)))
    assert "broadcast" in supports(x, LIFParameters(v_th=torch.ones(3)))
    assert "enlarge" in supports(x, LIFParameters(v_th=torch.ones(5, 2, 4)))
    assert "v_reset" in supports(x, LIFParameters(v_reset=torch.tensor(0.0)))  # type: ignore[arg-type]
    p = LIFParameters(surrogate=_MySurrogate())
    s, _ = lif_sequence(x, p=p, backend="auto")  # auto takes another kernel, silently
    assert torch.equal(s, lif_sequence(x, p=p, backend="torch")[0])
    with pytest.raises(ValueError, match="surrogate"):
        lif_sequence(x, p=p, backend="triton")
    monkeypatch.setenv("SPIKEFORGE_TRITON_BLOCK", "48")
    with pytest.raises(ValueError, match="power of two"):
        lif_sequence(x, backend="triton")


def test_saves_no_new_tensor_for_backward():
    """Backward recomputes H from the inputs: autograd keeps only x and v0 themselves."""
    assert_saves_only_the_inputs("triton")


@pytest.mark.parametrize(
    "make",
    [
        lambda b: LIF(tau=3.0, reset="subtract", learn_threshold=True, graded=True, backend=b),
        lambda b: PLIF(param_shape=(4, 1, 1), surrogate="triangle", backend=b),
        lambda b: IF(v_th=0.8, detach_reset=True, surrogate="sigmoid", backend=b),
    ],
    ids=["LIF", "PLIF-per-channel", "IF"],
)
def test_neuron_modules_reach_the_kernel_through_the_dispatch_table(make, target):
    """``LIF(backend="triton")`` runs this kernel and matches ``backend="torch"``."""
    torch.manual_seed(0)
    ref, tri = make("torch").to(target), make("triton").to(target)
    tri.load_state_dict(ref.state_dict())
    x = (torch.randn(5, 2, 4, 3, 3) + 0.6).to(target)
    outs = []
    for module in (ref, tri):
        x_ = x.clone().requires_grad_(True)
        f0 = tlif.CALLS["forward"]
        y = module(x_)
        assert tlif.CALLS["forward"] == f0 + (module is tri)
        params = list(module.parameters())
        weights = torch.linspace(-1, 1, y.numel(), device=target).view_as(y)
        grads = torch.autograd.grad((y * weights).sum(), [x_, *params])
        outs.append((y.detach(), grads))
    assert torch.equal(outs[0][0], outs[1][0])
    for a, b in zip(outs[0][1], outs[1][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_empty_batch(target):
    x = torch.randn(3, 0, 4, device=target, requires_grad=True)
    s, state = lif_sequence(x, backend="triton")
    assert s.shape == (3, 0, 4) and state.v.shape == (0, 4)
    (g,) = torch.autograd.grad(s.sum() + state.v.sum(), x)
    assert g.shape == x.shape


@pytest.mark.no_interpreter
def test_block_shrinks_until_a_gpu_has_enough_programs(monkeypatch):
    monkeypatch.setattr(tlif, "_multiprocessors", lambda index: 100)
    cuda = torch.device("cuda", 0)
    assert tlif._block(10**7, cuda) == tlif.BLOCK
    assert tlif._block(400 * 256, cuda) == 256  # 400 programs = 4 per multiprocessor
    assert tlif._block(1000, cuda) == tlif.MIN_BLOCK
    assert tlif._block(1000, torch.device("cpu")) == tlif.BLOCK  # the interpreter
    monkeypatch.setenv("SPIKEFORGE_TRITON_BLOCK", "64")
    assert tlif._block(10**7, cuda) == 64


TOL_GPU = {torch.float32: {"rtol": 1e-5, "atol": 1e-4}, **HALF_TOL}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.no_interpreter
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_compiled_kernel_on_gpu(dtype, monkeypatch):
    """On a GPU: the compiled kernel against the float32 reference on the same device."""
    monkeypatch.delenv("TRITON_INTERPRET")
    gen = torch.Generator().manual_seed(8)
    x = (torch.randn(16, 8, 3000, generator=gen) + 0.5).to("cuda", dtype)
    th = (torch.rand(3000, generator=gen) * 0.4 + 0.8).to("cuda", dtype)
    out = {}
    for backend, cast in (("triton", dtype), ("torch", torch.float32)):
        x_ = x.to(cast).requires_grad_(True)
        th_ = th.to(cast).requires_grad_(True)
        p = LIFParameters(inv_tau=0.5, v_th=th_, reset="subtract")
        s, state = lif_sequence(x_, p=p, backend=backend)
        out[backend] = (s, state.v, *torch.autograd.grad(s.sum() + state.v.sum(), [x_, th_]))
    assert torch.equal(out["triton"][0].float(), out["torch"][0])
    torch.testing.assert_close(out["triton"][1], out["torch"][1].to(dtype), **TOL_GPU[dtype])
    for a, b in zip(out["triton"][2:], out["torch"][2:], strict=True):
        torch.testing.assert_close(a, b.to(dtype), **TOL_GPU[dtype])
