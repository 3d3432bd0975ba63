"""The Triton kernel source (``kernels/triton/_kernels.py``) launched directly, in Triton's
interpreter on CPU tensors, against hand computations: the ``"lif"`` forward's charge,
fire and reset codes, the backward's surrogate derivatives (every ``SID``) and the
``"leaky"`` scan's forms; and the same source compiled for a real GPU (sm_90) without
one, with no fused multiply-add. (The kernels behind the autograd wrappers are checked
against the torch reference in ``test_kernels_triton_{lif,leaky,alif}.py``.)"""

from __future__ import annotations

import pytest
import torch

triton = pytest.importorskip("triton")

from spikeforge.kernels._fused_common import KernelConfig, surrogate_code  # noqa: E402
from spikeforge.kernels.triton import lif as tlif  # noqa: E402
from spikeforge.surrogates import (  # noqa: E402
    ATan,
    FastSigmoid,
    PiecewiseLinear,
    Rectangle,
    Sigmoid,
    Triangle,
)

pytestmark = pytest.mark.usefixtures("interpret")  # see conftest.py

F64 = torch.float64


@pytest.fixture
def kernels():
    """The kernels as the interpreter runs them (``TRITON_INTERPRET=1`` is set)."""
    return tlif._build(True)


def _constants(v_reset=0.0, a=0.0, b=0.0, c0=0.0, c1=0.0, k=1.0, th=1.0) -> torch.Tensor:
    return torch.tensor([v_reset, a, b, c0, c1, k, th], dtype=F64)


def _forward(kernels, x, v0, k, th, charge, reset, block, v_reset=0.0):
    steps, n = x.shape
    spikes = torch.full_like(x, -1.0)
    v = torch.full_like(v0, -1.0)
    k_vec, th_vec = k.numel() > 1, th.numel() > 1
    kernels.lif_forward[(-(-n // block),)](
        x, v0, k, th, _constants(v_reset), spikes, v, steps, n,
        CHARGE=charge, RESET=reset, K_VEC=k_vec, TH_VEC=th_vec, BLOCK=block,
    )  # fmt: skip
    return spikes, v


def test_interpreted_kernels_are_built(kernels):
    assert type(kernels.lif_forward).__name__ == "InterpretedFunction"
    assert kernels.__name__.endswith("_kernels_interpreted")


@pytest.mark.parametrize("block", [2, 4])  # two programs with a partial one / one masked
def test_lif_forward_if_with_subtract_reset_by_hand(kernels, block):
    # IF (H = V + X), soft reset V = H - V_th S, V_th = 1, three neurons over three steps
    x = torch.tensor([[0.6, 1.2, 0.25], [0.6, 0.0, 0.25], [0.6, 0.5, 0.25]], dtype=F64)
    v0 = torch.tensor([0.0, 0.0, 0.5], dtype=F64)
    spikes, v = _forward(kernels, x, v0, torch.ones(1, dtype=F64), torch.ones(1, dtype=F64),
                         charge=0, reset=1, block=block)  # fmt: skip
    # neuron 0: H = 0.6, 1.2 (fire, V = 0.2), 0.8; neuron 1: 1.2 (fire, 0.2), 0.2, 0.7;
    # neuron 2: 0.75, 1.0 (fires at equality, V = 0), 0.25
    assert spikes.T.tolist() == [[0, 1, 0], [1, 0, 0], [0, 1, 0]]
    torch.testing.assert_close(v, torch.tensor([0.8, 0.7, 0.25], dtype=F64))


def test_lif_forward_leaky_charges_and_hard_reset_by_hand(kernels):
    x = torch.full((3, 1), 1.5, dtype=F64)
    v0 = torch.zeros(1, dtype=F64)
    k = torch.tensor([0.5], dtype=F64)
    th = torch.tensor([1.0], dtype=F64)
    # CHARGE 1 (decay_input): H = V + (X - V) k: 0.75, 1.125 (fire, hard reset to 0), 0.75
    spikes, v = _forward(kernels, x, v0, k, th, charge=1, reset=0, block=2)
    assert spikes.flatten().tolist() == [0, 1, 0] and v.tolist() == [0.75]
    # CHARGE 2 (no input decay): H = V - V k + X: 1.5 (fire, 0), 1.5 (fire, 0), 1.5
    spikes, v = _forward(kernels, x, v0, k, th, charge=2, reset=0, block=2)
    assert spikes.flatten().tolist() == [1, 1, 1] and v.tolist() == [0.0]
    # RESET 2 (none): the membrane keeps charging past the threshold
    spikes, v = _forward(kernels, x, v0, k, th, charge=2, reset=2, block=2)
    assert spikes.flatten().tolist() == [1, 1, 1] and v.tolist() == [2.625]  # 1.5, 2.25, 2.625
    # a hard reset goes to v_reset, and per-neuron thresholds (TH_VEC)
    x2 = torch.tensor([[1.0, 1.0]], dtype=F64)
    spikes, v = _forward(kernels, x2, torch.zeros(2, dtype=F64), torch.ones(1, dtype=F64),
                         torch.tensor([0.5, 2.0], dtype=F64), charge=0, reset=0, block=2,
                         v_reset=-0.25)  # fmt: skip
    assert spikes.tolist() == [[1, 0]] and v.tolist() == [-0.25, 1.0]


SURROGATES = [
    ATan(alpha=2.0),
    Sigmoid(alpha=4.0),
    FastSigmoid(alpha=3.0),
    Triangle(alpha=0.8, gamma=0.3),
    Rectangle(alpha=0.7),
    PiecewiseLinear(alpha=1.5, leak=0.05),
]


@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: type(s).__name__)
def test_lif_backward_uses_each_surrogates_derivative(kernels, surrogate):
    """One IF step without reset: ``dL/dx = dL/dv0 = gs σ'(x + v0 - V_th)`` and
    ``dL/dV_th = -gs σ'``, with σ' the surrogate's own derivative."""
    sid, a, b = surrogate_code(surrogate)
    cfg = KernelConfig(charge=0, reset=2, detach=False, sid=sid, a=a, b=b, v_reset=0.0,
                       k=1.0, th=1.0)  # fmt: skip
    consts = torch.tensor(tlif.lif_constant_values(cfg), dtype=F64)
    u = torch.tensor([-2.0, -0.6, -0.3, -0.05, 0.0, 0.05, 0.3, 0.6, 2.0], dtype=F64)
    n = u.numel()
    x = (u + 1.0).view(1, n)  # v0 = 0, V_th = 1
    gs = torch.linspace(0.5, 1.5, n, dtype=F64).view(1, n)
    out = {name: torch.full((n,), float("nan"), dtype=F64) for name in ("gx", "gv0", "gth")}
    unused = torch.zeros(n, dtype=F64)
    kernels.lif_backward[(1,)](
        x, torch.zeros(n, dtype=F64), torch.empty_like(x), gs, unused, consts[5:], consts[6:],
        consts, out["gx"], out["gv0"], unused, out["gth"], 1, n,
        CHARGE=0, RESET=2, DETACH=False, SID=sid, K_VEC=False, TH_VEC=False, HAS_GS=True,
        HAS_GV=False, WANT_K=False, WANT_TH=True, BLOCK=16,
    )  # fmt: skip
    expected = gs.flatten() * surrogate.derivative(u)
    torch.testing.assert_close(out["gx"], expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out["gv0"], expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out["gth"], -expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("form", "step"),
    [
        (0, lambda y, x, c, r: y + x),
        (1, lambda y, x, c, r: y + (x - (y - r)) * c),
        (2, lambda y, x, c, r: y - (y - r) * c + x),
        (3, lambda y, x, c, r: c * y + x),
    ],
    ids=["integrate", "lif", "lif_no_decay", "decay"],
)
def test_leaky_forward_scans_each_form(kernels, form, step):
    x = torch.tensor([[1.0, -2.0, 0.5], [0.25, 1.0, 0.0], [2.0, 0.5, -1.0]], dtype=F64)
    y0 = torch.tensor([0.5, 0.0, -0.25], dtype=F64)
    coef = torch.tensor([0.25, 0.5, 0.75], dtype=F64)  # per neuron (C_VEC)
    rest = 0.125
    y = torch.full_like(x, float("nan"))
    last = torch.full_like(y0, float("nan"))
    kernels.leaky_forward[(2,)](
        x, y0, coef, torch.tensor([rest, 0.0], dtype=F64), y, last, 3, 3,
        FORM=form, C_VEC=True, BLOCK=2,
    )  # fmt: skip
    expected, state = [], y0.clone()
    for x_t in x:
        state = step(state, x_t, coef, rest)
        expected.append(state)
    torch.testing.assert_close(y, torch.stack(expected), rtol=0, atol=0)
    torch.testing.assert_close(last, expected[-1], rtol=0, atol=0)


_SIGNATURES = {
    "lif_forward": "x_ptr v0_ptr k_ptr th_ptr c_ptr s_ptr v_ptr",
    "lif_backward": "x_ptr v0_ptr h_ptr gs_ptr gvt_ptr k_ptr th_ptr c_ptr gx_ptr gv0_ptr "
    "gk_ptr gth_ptr",
    "leaky_forward": "x_ptr y0_ptr coef_ptr c_ptr y_ptr ylast_ptr",
    "leaky_backward": "x_ptr y0_ptr y_ptr gy_ptr gyl_ptr coef_ptr c_ptr gx_ptr gy0_ptr gc_ptr",
    "alif_forward": "x_ptr v0_ptr a0_ptr k_ptr th_ptr bb_ptr c_ptr s_ptr v_ptr a_ptr",
    "alif_backward": "x_ptr v0_ptr a0_ptr h_ptr ah_ptr gs_ptr gvt_ptr gat_ptr k_ptr th_ptr "
    "bb_ptr c_ptr gx_ptr gv0_ptr ga0_ptr gk_ptr gth_ptr gb_ptr",
}


_COMPUTE_DTYPE_ARGS = {"c_ptr", "h_ptr", "ah_ptr", "gk_ptr", "gth_ptr", "gb_ptr", "gc_ptr"}


def _compile_for_gpu(kernels, name, dtype, constants):
    """Compile one kernel variant for an H100 (sm_90) without a GPU; returns the PTX."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    compute = "fp64" if dtype == "fp64" else "fp32"
    signature = {
        arg: f"*{compute if arg in _COMPUTE_DTYPE_ARGS else dtype}"
        for arg in _SIGNATURES[name].split()
    }
    signature.update(T="i32", N="i32")
    src = ASTSource(getattr(kernels, name), signature, constants)
    options = tlif._launch_options(constants["BLOCK"])
    return triton.compile(src, target=GPUTarget("cuda", 90, 32), options=options).asm["ptx"]


@pytest.mark.no_interpreter
def test_kernels_compile_for_a_real_gpu(monkeypatch):
    """The interpreter is lenient (numpy types, python control flow); the compiler is not.
    Compile forward and backward for sm_90 in every dtype, and check that no fused
    multiply-add sneaks into either kernel (it would flip spikes at the threshold)."""
    from triton.backends import backends

    if "nvidia" not in backends:
        pytest.skip("triton has no nvidia backend here")
    monkeypatch.delenv("TRITON_INTERPRET")
    kernels = tlif._build(False)
    assert type(kernels.lif_forward).__name__ == "JITFunction"
    for i, dtype in enumerate(["fp32", "fp64", "fp16", "bf16"]):
        fwd = {"CHARGE": 1 + i % 2, "RESET": i % 3, "K_VEC": bool(i % 2), "TH_VEC": True}
        fwd["BLOCK"] = 1024
        assert "fma" not in _compile_for_gpu(kernels, "lif_forward", dtype, fwd)
        bwd = {"CHARGE": i % 3, "RESET": (i + 1) % 3, "DETACH": bool(i % 2), "SID": i}
        bwd |= {"K_VEC": True, "TH_VEC": False, "HAS_GS": True, "HAS_GV": bool(i % 2)}
        bwd |= {"WANT_K": True, "WANT_TH": True, "BLOCK": 256}
        _compile_for_gpu(kernels, "lif_backward", dtype, bwd)
    # backward recomputes H, which must round as in the forward: no fma there either
    # (checked with the triangle surrogate: a division's own Newton steps use fma)
    bwd = {"CHARGE": 1, "RESET": 0, "DETACH": False, "SID": 3, "K_VEC": False}
    bwd |= {"TH_VEC": False, "HAS_GS": True, "HAS_GV": True, "WANT_K": False}
    bwd |= {"WANT_TH": False, "BLOCK": 1024}
    assert "fma" not in _compile_for_gpu(kernels, "lif_backward", "fp32", bwd)
    for form, dtype in zip(range(4), ["fp32", "fp64", "fp16", "bf16"], strict=True):
        # the "leaky" scans: no fma either (their trajectories match the reference bit by bit)
        fwd = {"FORM": form, "C_VEC": bool(form % 2), "BLOCK": 512}
        assert "fma" not in _compile_for_gpu(kernels, "leaky_forward", dtype, fwd)
        bwd = {"FORM": form, "C_VEC": True, "HAS_GY": True, "HAS_GL": bool(form % 2)}
        _compile_for_gpu(kernels, "leaky_backward", dtype, bwd | {"WANT_C": True, "BLOCK": 256})
    for i, dtype in enumerate(["fp32", "fp64", "fp16", "bf16"]):
        # the "alif" kernels: no fma in the forward, every surrogate in some backward
        fwd = {"CHARGE": i % 3, "RESET": (i + 2) % 3, "K_VEC": bool(i % 2), "TH_VEC": True}
        fwd |= {"B_VEC": bool(i % 2), "BLOCK": 256}
        assert "fma" not in _compile_for_gpu(kernels, "alif_forward", dtype, fwd)
        bwd = {"CHARGE": (i + 1) % 3, "RESET": i % 3, "DETACH": bool(i % 2), "SID": i + 2}
        bwd |= {"K_VEC": True, "TH_VEC": False, "B_VEC": True, "WANT_K": True}
        bwd |= {"WANT_TH": True, "WANT_B": True, "BLOCK": 128}
        _compile_for_gpu(kernels, "alif_backward", dtype, bwd)
    for sid in (4, 5):  # the surrogates not covered above
        bwd = {"CHARGE": 1, "RESET": 1, "DETACH": False, "SID": sid, "K_VEC": False}
        bwd |= {"TH_VEC": False, "HAS_GS": False, "HAS_GV": True, "WANT_K": False}
        bwd |= {"WANT_TH": False, "BLOCK": 1024}
        _compile_for_gpu(kernels, "lif_backward", "fp32", bwd)
