"""The Triton "leaky" kernel (first-order linear scans) against the plain-torch reference,
in Triton's interpreter and, where torch sees a GPU, compiled (``target``, conftest.py)."""

from __future__ import annotations

import itertools

import pytest
import torch

triton = pytest.importorskip("triton")

from lif_backends import COEFS, SEEDS, TOL, leaky_coef, run_leaky  # noqa: E402
from spikeforge.functional.leaky import LEAKY_FORMS, LeakyParameters, leaky_scan  # noqa: E402
from spikeforge.kernels import dispatch  # noqa: E402
from spikeforge.kernels.triton import leaky as tleaky  # noqa: E402
from spikeforge.neurons import LI, CuBa  # noqa: E402

pytestmark = pytest.mark.usefixtures("interpret")


@pytest.mark.parametrize("seed_kind", SEEDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize(("form", "coef_kind"), list(itertools.product(LEAKY_FORMS, COEFS)))
def test_matches_reference(form, coef_kind, dtype, seed_kind, target, monkeypatch):
    """Trajectory and final state bit-identical; every gradient within tolerance; the
    block (32) smaller than the 66 neurons, so several programs and a partial one."""
    monkeypatch.setenv("SPIKEFORGE_TRITON_BLOCK", "32")
    gen = torch.Generator().manual_seed(LEAKY_FORMS.index(form) * 7 + COEFS.index(coef_kind))
    shape = (6, 3, 2, 11)
    x = torch.randn(shape, generator=gen, dtype=dtype)
    y0 = torch.randn(shape[1:], generator=gen, dtype=dtype) * 0.5
    coef = leaky_coef(coef_kind, shape, dtype, gen)
    gy = torch.randn(shape, generator=gen, dtype=dtype) if seed_kind != "final" else None
    gl = torch.randn(shape[1:], generator=gen, dtype=dtype) if seed_kind != "trajectory" else None
    x, y0, gy, gl = (None if t is None else t.to(target) for t in (x, y0, gy, gl))
    if isinstance(coef, torch.Tensor):
        coef = coef.to(target)
    p = LeakyParameters(form, coef, rest=-0.15)
    calls = dict(tleaky.CALLS)
    ref = run_leaky("torch", x, y0, p, (gy, gl))
    new = run_leaky("triton", x, y0, p, (gy, gl))
    assert {"forward": calls["forward"] + 1, "backward": calls["backward"] + 1} == tleaky.CALLS
    assert torch.equal(ref[0], new[0]) and torch.equal(ref[1], new[1])
    for a, b in zip(new[2], ref[2], strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_half_precision_is_the_float32_result_rounded_once(dtype, target):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(5, 2, 9, generator=gen).to(dtype).to(target)
    y0 = torch.zeros(2, 9, dtype=dtype, device=target)
    coef = (torch.rand(9, generator=gen) * 0.5 + 0.3).to(dtype).to(target)
    y, last = leaky_scan(x, y0, LeakyParameters("decay", coef), "triton")
    y32, last32 = leaky_scan(x.float(), y0.float(), LeakyParameters("decay", coef.float()), "torch")
    assert y.dtype == dtype
    # the interpreter truncates float32 -> bfloat16 (a GPU rounds): one ulp apart at most
    tol = {"rtol": 0, "atol": 0} if dtype == torch.float16 else {"rtol": 2**-7, "atol": 1e-3}
    torch.testing.assert_close(y, y32.to(dtype), **tol)
    torch.testing.assert_close(last, last32.to(dtype), **tol)


def test_auto_takes_it_under_the_interpreter_and_the_neurons_reach_it(target):
    x = torch.randn(4, 2, 3, device=target)
    assert dispatch("leaky", "auto", x, LeakyParameters()) is tleaky.leaky_scan_triton
    assert "broadcast" in tleaky.supports(x, LeakyParameters(coef=torch.ones(5, device=target)))
    for make in (lambda b: CuBa(alpha=0.6, backend=b), lambda b: LI(tau=3.0, backend=b)):
        ref, fused = make("torch").to(target), make("triton").to(target)
        calls = tleaky.CALLS["forward"]
        assert torch.equal(ref(x), fused(x))
        assert tleaky.CALLS["forward"] == calls + 1


@pytest.mark.no_interpreter
def test_without_a_gpu_or_interpreter_cpu_tensors_get_the_reason(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET")
    x = torch.randn(3, 2, 4)
    assert "needs a CUDA tensor" in tleaky.supports(x, LeakyParameters())
    assert dispatch("leaky", "auto", x, LeakyParameters()) is not tleaky.leaky_scan_triton
