"""What the fused-kernel test modules share: the dynamics grid and the comparison of a
backend with the plain-torch reference (spikes identical; state and gradients close)."""

from __future__ import annotations

import torch

from spikeforge.functional.lif import lif_sequence
from spikeforge.functional.state import LIFState
from spikeforge.surrogates import (
    ATan,
    FastSigmoid,
    PiecewiseLinear,
    Rectangle,
    Sigmoid,
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
            torch.testing.assert_close(a, b, **TOL[dtype], msg=lambda m, i=i: f"grad {i}: {m}")
