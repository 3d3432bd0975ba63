"""What the fused-kernel test modules share: the dynamics grid and the comparison of a
backend with the plain-torch reference (spikes identical; state and gradients close)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from hypothesis import strategies as st

from spikeforge.functional.alif import ALIFParameters, alif_sequence
from spikeforge.functional.leaky import LeakyParameters, leaky_scan
from spikeforge.functional.lif import LIFParameters, lif_sequence
from spikeforge.functional.state import ALIFState, LIFState
from spikeforge.surrogates import (
    ATan,
    FastSigmoid,
    PiecewiseLinear,
    Rectangle,
    Sigmoid,
    Surrogate,
    Triangle,
)

SURROGATES = [
    ATan(),
    Sigmoid(),
    FastSigmoid(alpha=3.0),
    Triangle(alpha=0.8, gamma=0.3),
    Rectangle(alpha=0.7),
    PiecewiseLinear(alpha=1.5, leak=0.05),
]
CHARGES = [("if", True), ("lif", True), ("lif", False)]
RESETS = ["zero", "subtract", "none"]
TOL = {torch.float64: {"rtol": 1e-10, "atol": 1e-10}, torch.float32: {"rtol": 1e-5, "atol": 1e-5}}


def run_lif(backend, x, v0, make_params, grad_seeds):
    """Spikes, final v and gradients w.r.t. ``(x, v0, *tensor parameters)``.

    ``make_params()`` returns ``(LIFParameters, [leaf tensors to differentiate])``;
    ``grad_seeds = (dL/dspikes, dL/dv_final)``.
    """
    x = x.detach().clone().requires_grad_(True)
    v0 = v0.detach().clone().requires_grad_(True)
    p, leaves = make_params()
    spikes, state = lif_sequence(x, LIFState(v0), p, backend=backend)
    gs, gv = grad_seeds
    loss = (spikes * gs).sum() + (state.v * gv).sum()
    grads = torch.autograd.grad(loss, [x, v0, *leaves], allow_unused=True)
    return spikes.detach(), state.v.detach(), grads


def saved_storages(fn) -> set[int]:
    """Data pointers of the storages autograd saves while ``fn()`` runs."""
    saved: set[int] = set()

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.add(t.untyped_storage().data_ptr())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return saved


def assert_saves_only_the_inputs(backend: str) -> None:
    """The fused kernels recompute H in backward: autograd keeps only x and v0."""
    x = torch.randn(6, 4, 10, requires_grad=True)
    v0 = torch.zeros(4, 10)
    saved = saved_storages(lambda: lif_sequence(x, LIFState(v0), backend=backend))
    assert saved and saved <= {x.untyped_storage().data_ptr(), v0.untyped_storage().data_ptr()}


def assert_matches_reference(backend, x, v0, make_params, dtype, seed=99):
    """``backend`` vs ``"torch"``: spikes bit-identical, final v and every gradient
    within :data:`TOL` of ``dtype``, the same gradients present."""
    gen = torch.Generator().manual_seed(seed)
    gs = torch.randn(x.shape, generator=gen, dtype=dtype).to(x.device)
    gv = torch.randn(v0.shape, generator=gen, dtype=dtype).to(x.device)
    s_ref, v_ref, g_ref = run_lif("torch", x, v0, make_params, (gs, gv))
    s_new, v_new, g_new = run_lif(backend, x, v0, make_params, (gs, gv))
    assert torch.equal(s_ref, s_new), "spikes differ"
    torch.testing.assert_close(v_new, v_ref, **TOL[dtype])
    for i, (a, b) in enumerate(zip(g_new, g_ref, strict=True)):
        assert (a is None) == (b is None), f"gradient {i}: presence differs"
        if a is not None:
            tol = reduction_tolerance(dtype, x.numel(), a.numel())
            torch.testing.assert_close(a, b, **tol, msg=lambda m, i=i: f"grad {i}: {m}")


def reduction_tolerance(dtype: torch.dtype, terms: int, size: int) -> dict[str, float]:
    """:data:`TOL`, widened by ``sqrt(terms / size)`` for a gradient summed over
    ``terms / size`` elements each (a parameter's: over neurons and steps). Backends sum in
    different orders (Triton block by block), and float32 rounding of such a sum grows
    like the square root of its length: one float32 case in CI differed by 2.3e-5 in a
    parameter gradient summed over several hundred terms. Float64 stays at 1e-10."""
    if dtype == torch.float64:
        return TOL[dtype]
    widen = max(1.0, (terms / max(size, 1)) ** 0.5)
    return {key: value * widen for key, value in TOL[dtype].items()}


# --- the grid's cases, shared by the kernel test modules --------------------------------
# Each returns ``(x, v0, make_params)`` on ``device``; ``make_params()`` makes fresh leaf
# tensors on ``device`` for every run (see :func:`run_lif`).

Case = tuple[torch.Tensor, torch.Tensor, Callable[[], tuple[LIFParameters, list[torch.Tensor]]]]


def tensor_parameter_case(
    charge: tuple[str, bool],
    reset: str,
    detach: bool,
    surrogate: Surrogate,
    dtype: torch.dtype,
    *,
    steps: int,
    graded: bool,
    device: torch.device | str = "cpu",
) -> Case:
    """PLIF ``inv_tau = sigmoid(w)`` (0-dim), a per-neuron learnable threshold, a negative
    ``v_reset`` and, with ``graded``, a per-neuron learnable spike scale."""
    gen = torch.Generator().manual_seed(7)
    B, N = 3, 11
    x = torch.randn(steps, B, N, generator=gen, dtype=dtype) * 1.2 + 0.4
    v0 = torch.randn(B, N, generator=gen, dtype=dtype) * 0.3
    w = torch.tensor(0.2, dtype=dtype)
    th = torch.rand(N, generator=gen, dtype=dtype) * 0.6 + 0.6
    g = torch.rand(N, generator=gen, dtype=dtype) + 0.5 if graded else None

    def make_params():
        leaves = [t.to(device, copy=True).requires_grad_(True) for t in (w, th, g) if t is not None]
        p = LIFParameters(
            charge=charge[0],
            decay_input=charge[1],
            inv_tau=torch.sigmoid(leaves[0]),
            v_th=leaves[1],
            v_reset=-0.2,
            reset=reset,
            detach_reset=detach,
            surrogate=surrogate,
            spike_scale=leaves[2] if graded else None,
        )
        return p, leaves

    return x.to(device), v0.to(device), make_params


def float_parameter_case(
    charge: tuple[str, bool],
    reset: str,
    surrogate: Surrogate,
    dtype: torch.dtype,
    *,
    shape: tuple[int, int, int],
    device: torch.device | str = "cpu",
) -> Case:
    """The common path: float τ and V_th; gradients w.r.t. the input and ``v0`` only."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(shape, generator=gen, dtype=dtype) * 1.5 + 0.3
    v0 = torch.zeros(shape[1:], dtype=dtype)

    def make_params():
        p = LIFParameters(
            charge=charge[0],
            decay_input=charge[1],
            inv_tau=0.3,
            v_th=0.9,
            reset=reset,
            surrogate=surrogate,
        )
        return p, []

    return x.to(device), v0.to(device), make_params


PARAMETER_KINDS = ["float", "scalar", "last", "full"]


def random_case_strategies(max_dim: int) -> dict[str, st.SearchStrategy]:
    """Hypothesis strategies for :func:`random_case`'s arguments (``dtype`` as ``f64``)."""
    return {
        "shape": st.lists(st.integers(1, max_dim), min_size=2, max_size=5),
        "charge": st.sampled_from(CHARGES),
        "reset": st.sampled_from(RESETS),
        "detach": st.booleans(),
        "surrogate": st.sampled_from(SURROGATES),
        "tau_kind": st.sampled_from(PARAMETER_KINDS),
        "th_kind": st.sampled_from(PARAMETER_KINDS),
        "f64": st.booleans(),
        "seed": st.integers(0, 2**16),
    }


def random_case(
    shape: list[int],
    charge: tuple[str, bool],
    reset: str,
    detach: bool,
    surrogate: Surrogate,
    tau_kind: str,
    th_kind: str,
    dtype: torch.dtype,
    seed: int,
    device: torch.device | str = "cpu",
) -> Case:
    """A drawn ``[T, B, ...]`` shape; ``inv_tau`` and ``v_th`` each a float, a 0-dim
    tensor, one value per last-axis position, or one per neuron (``PARAMETER_KINDS``)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=dtype) + 0.5
    v0 = torch.randn(shape[1:], generator=gen, dtype=dtype) * 0.2

    def param(kind: str, value: float) -> torch.Tensor | float:
        if kind == "float":
            return value
        if kind == "scalar":
            return torch.tensor(value, dtype=dtype)
        size = shape[-1:] if kind == "last" else shape[1:]
        return value + 0.1 * torch.rand(size, generator=gen, dtype=dtype)

    tau, th = param(tau_kind, 0.4), param(th_kind, 1.0)

    def make_params():
        leaves, vals = [], []
        for value in (tau, th):
            if isinstance(value, torch.Tensor):
                value = value.to(device, copy=True).requires_grad_(True)
                leaves.append(value)
            vals.append(value)
        p = LIFParameters(
            charge=charge[0],
            decay_input=charge[1],
            inv_tau=vals[0],
            v_th=vals[1],
            reset=reset,
            detach_reset=detach,
            surrogate=surrogate,
        )
        return p, leaves

    return x.to(device), v0.to(device), make_params


def per_channel_case(
    shape: tuple[int, ...], reset: str, device: torch.device | str = "cpu"
) -> Case:
    """``[T, B, C, H, W]`` float64 with ``inv_tau`` (via a sigmoid) and ``v_th`` of shape
    ``[C, 1, 1]`` (C = 3): their gradients are reduced per channel."""
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(shape, generator=gen, dtype=torch.float64) + 0.6
    v0 = torch.zeros(shape[1:], dtype=torch.float64)
    w = torch.randn(3, 1, 1, generator=gen, dtype=torch.float64)
    th = torch.tensor([0.8, 1.0, 1.2], dtype=torch.float64).view(3, 1, 1)

    def make_params():
        w_, th_ = (t.to(device, copy=True).requires_grad_(True) for t in (w, th))
        return LIFParameters(inv_tau=torch.sigmoid(w_), v_th=th_, reset=reset), [w_, th_]

    return x.to(device), v0.to(device), make_params


# --- the "leaky" family's cases ------------------------------------------------------
COEFS = ["float", "scalar", "per-neuron", "last-axis"]
SEEDS = ["trajectory", "final", "both"]


def leaky_coef(kind, shape, dtype, gen):
    """A "leaky" coefficient of one of the :data:`COEFS` kinds for input ``shape``."""
    if kind == "float":
        return 0.35
    if kind == "scalar":
        return torch.tensor(0.35, dtype=dtype)
    size = shape[1:] if kind == "per-neuron" else shape[-1:]
    return torch.rand(size, generator=gen, dtype=dtype) * 0.8 + 0.1


def run_leaky(backend, x, y0, p, seeds):
    """Trajectory, final state and the gradients w.r.t. ``(x, y0[, coef])`` of
    ``Σ y·gy + Σ y[T-1]·gl`` (either seed may be ``None``)."""
    x = x.clone().requires_grad_(True)
    y0 = y0.clone().requires_grad_(True)
    coef = p.coef
    if isinstance(coef, torch.Tensor):
        coef = coef.clone().requires_grad_(True)
    p = LeakyParameters(p.form, coef, p.rest)
    y, last = leaky_scan(x, y0, p, backend)
    gy, gl = seeds
    loss = (y * gy).sum() if gy is not None else 0.0
    loss = loss + ((last * gl).sum() if gl is not None else 0.0)
    leaves = [x, y0] + ([coef] if isinstance(coef, torch.Tensor) else [])
    return y.detach(), last.detach(), torch.autograd.grad(loss, leaves, allow_unused=True)


# --- the "alif" family's cases -------------------------------------------------------
def alif_case(charge, reset, detach, surrogate, dtype, steps, device="cpu"):
    """``(x, v0, a0, make_p)``: PLIF ``inv_tau = sigmoid(w)``, per-neuron learnable V_th
    and adaptation strength ``b`` (fresh leaves on ``device`` per call of ``make_p``)."""
    gen = torch.Generator().manual_seed(CHARGES.index(charge) * 9 + RESETS.index(reset))
    B, N = 3, 11
    x = torch.randn(steps, B, N, generator=gen, dtype=dtype) * 1.2 + 0.5
    v0 = torch.randn(B, N, generator=gen, dtype=dtype) * 0.3
    a0 = torch.rand(B, N, generator=gen, dtype=dtype)
    th = torch.rand(N, generator=gen, dtype=dtype) * 0.5 + 0.7
    b = torch.rand(N, generator=gen, dtype=dtype) * 0.3 + 0.1

    def make_p():
        w_, th_, b_ = (
            t.to(device, copy=True).requires_grad_(True)
            for t in (torch.tensor(0.3, dtype=dtype), th, b)
        )
        lif = LIFParameters(
            charge=charge[0],
            decay_input=charge[1],
            inv_tau=torch.sigmoid(w_),
            v_th=th_,
            v_reset=-0.1,
            reset=reset,
            detach_reset=detach,
            surrogate=surrogate,
        )
        return ALIFParameters(lif=lif, b=b_, rho=0.8), [w_, th_, b_]

    return x.to(device), v0.to(device), a0.to(device), make_p


def run_alif(backend, x, v0, a0, make_p, seeds):
    """Spikes, final (v, a) and the gradients w.r.t. x, v0, a0 and every tensor
    parameter, for the loss ``Σ S·gs + Σ v·gv + Σ a·ga``."""
    x, v0, a0 = (t.clone().requires_grad_(True) for t in (x, v0, a0))
    p, leaves = make_p()
    spikes, state = alif_sequence(x, ALIFState(v0, a0), p, backend)
    gs, gv, ga = seeds
    loss = (spikes * gs).sum() + (state.v * gv).sum() + (state.a * ga).sum()
    grads = torch.autograd.grad(loss, [x, v0, a0, *leaves], allow_unused=True)
    return spikes.detach(), state.v.detach(), state.a.detach(), grads


def assert_alif_matches_reference(backend, calls, x, v0, a0, make_p, dtype, seed=5):
    """``backend`` vs ``"torch"``: spikes bit-identical, final state and every gradient
    within :data:`TOL`; ``calls`` (the backend's launch counters) advance by one each."""
    gen = torch.Generator().manual_seed(seed)
    seeds = [torch.randn(t.shape, generator=gen, dtype=dtype).to(x.device) for t in (x, v0, a0)]
    before = dict(calls)
    ref = run_alif("torch", x, v0, a0, make_p, seeds)
    new = run_alif(backend, x, v0, a0, make_p, seeds)
    assert {"forward": before["forward"] + 1, "backward": before["backward"] + 1} == calls
    assert torch.equal(ref[0], new[0]), "spikes differ"
    for i, (a, b) in enumerate(zip([*new[1:3], *new[3]], [*ref[1:3], *ref[3]], strict=True)):
        assert (a is None) == (b is None), f"output {i}: presence differs"
        if a is not None:
            torch.testing.assert_close(a, b, **TOL[dtype], msg=lambda m, i=i: f"output {i}: {m}")
