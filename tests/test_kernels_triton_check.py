"""The first-use self-check of the Triton kernel (kernels/triton/check.py), run here in
Triton's interpreter on CPU tensors (on a GPU it runs for CUDA tensors)."""

from __future__ import annotations

import pytest
import torch

triton = pytest.importorskip("triton")

from spikeforge.functional.lif import LIFParameters, lif_sequence  # noqa: E402
from spikeforge.kernels import dispatch  # noqa: E402
from spikeforge.kernels.triton import check  # noqa: E402
from spikeforge.kernels.triton import lif as tlif  # noqa: E402
from spikeforge.surrogates import Sigmoid, Triangle  # noqa: E402


@pytest.fixture(autouse=True)
def _check_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    reason = tlif.interpreter_reason()
    if reason is not None:
        pytest.skip(reason)
    monkeypatch.setattr(check, "CHECK_DEVICE_TYPES", {"cuda", "cpu"})
    monkeypatch.setattr(check, "_RESULTS", {})


def _x(dtype=torch.float32):
    return torch.randn(4, 2, 10, generator=torch.Generator().manual_seed(0)).to(dtype)


@pytest.mark.parametrize(
    "p",
    [
        LIFParameters(),
        LIFParameters(v_th=torch.rand(10) + 0.5, inv_tau=torch.tensor(0.4), reset="subtract"),
        LIFParameters(charge="if", surrogate=Sigmoid(), detach_reset=True),
        LIFParameters(decay_input=False, surrogate=Triangle(), reset="none"),
    ],
    ids=["lif", "tensor-params", "if", "no-decay"],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_a_correct_kernel_passes_once_per_configuration(p, dtype, monkeypatch):
    runs = []
    real_run = check._run
    monkeypatch.setattr(check, "_run", lambda *a: runs.append(a) or real_run(*a))
    if isinstance(p.v_th, torch.Tensor):
        p = LIFParameters(v_th=p.v_th.to(dtype), inv_tau=p.inv_tau.to(dtype), reset=p.reset)
    calls, rng = dict(tlif.CALLS), torch.get_rng_state()
    assert tlif.supports(_x(dtype), p) is None
    assert tlif.supports(_x(dtype), p) is None
    assert len(runs) == 1  # cached per configuration
    assert calls == tlif.CALLS  # the check's launches are not counted
    assert torch.equal(torch.get_rng_state(), rng)  # nor does it draw from the global RNG


def test_float_values_share_a_check_but_other_dynamics_do_not(monkeypatch):
    runs = []
    monkeypatch.setattr(check, "_run", lambda *a: runs.append(a))
    for p in (LIFParameters(v_th=1.0), LIFParameters(v_th=0.7, inv_tau=0.25)):
        check.self_check_reason(_x(), p)
    assert len(runs) == 1
    check.self_check_reason(_x(), LIFParameters(surrogate=Sigmoid()))
    check.self_check_reason(_x(torch.float64), LIFParameters())
    check.self_check_reason(_x(), LIFParameters(v_th=torch.tensor(1.0)))
    assert len(runs) == 4


def _patched_kernel(monkeypatch, change):
    real = tlif.lif_sequence_triton

    def wrong(x, v0, p):
        spikes, v = real(x, v0, p)
        return change(spikes, v)

    monkeypatch.setattr(tlif, "lif_sequence_triton", wrong)


def _flip_one_spike(spikes, v):
    flip = torch.zeros_like(spikes)
    flip.view(-1)[0] = 1.0
    return (spikes - flip).abs(), v  # differentiable, one value flipped


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_flip_one_spike, "1 spike\\(s\\) differ"),
        (lambda s, v: (s, v * 1.01), "final membrane differs"),
        (lambda s, v: (s, v + 0.05 * (s - s.detach()).sum()), "dL/dx differs"),  # value kept
    ],
    ids=["spike", "membrane", "gradient"],
)
def test_a_disagreeing_kernel_is_not_used(change, message, monkeypatch):
    _patched_kernel(monkeypatch, change)
    x, p = _x(), LIFParameters()
    with pytest.warns(RuntimeWarning, match=message):
        reason = tlif.supports(x, p)
    assert reason is not None and "self-check" in reason
    assert dispatch("lif", "auto", x, p) is not tlif.lif_sequence_triton  # falls back
    with pytest.raises(ValueError, match=message):
        lif_sequence(x, p=p, backend="triton")
    reference, _ = lif_sequence(x, p=p, backend="torch")
    assert torch.equal(lif_sequence(x, p=p, backend="auto")[0], reference)


def test_a_kernel_that_fails_to_run_is_not_used(monkeypatch):
    def broken(x, v0, p):
        raise RuntimeError("no kernel image is available for execution on the device")

    monkeypatch.setattr(tlif, "lif_sequence_triton", broken)
    with pytest.warns(RuntimeWarning, match="self-check run failed: RuntimeError: no kernel"):
        assert "no kernel image" in tlif.supports(_x(), LIFParameters())


def test_cpu_tensors_are_not_checked_by_default(monkeypatch):
    monkeypatch.setattr(check, "CHECK_DEVICE_TYPES", {"cuda"})
    monkeypatch.setattr(check, "_run", lambda *a: pytest.fail("checked a CPU tensor"))
    assert check.self_check_reason(_x(), LIFParameters()) is None


@pytest.mark.parametrize("coef", [0.4, "per-neuron"], ids=["float", "tensor"])
@pytest.mark.parametrize("form", ["lif", "decay"])
def test_the_leaky_kernel_is_checked_too(form, coef, monkeypatch):
    from spikeforge.functional.leaky import LeakyParameters
    from spikeforge.kernels.triton import leaky as tleaky

    if coef == "per-neuron":
        coef = torch.full((10,), 0.4)
    p = LeakyParameters(form, coef)
    calls = dict(tleaky.CALLS)
    assert tleaky.supports(_x(), p) is None
    assert calls == tleaky.CALLS
    real = tleaky.leaky_scan_triton

    def wrong(x, y0, p):
        y, last = real(x, y0, p)
        return y * 1.01, last

    monkeypatch.setattr(check, "_RESULTS", {})
    monkeypatch.setattr(tleaky, "leaky_scan_triton", wrong)
    with pytest.warns(RuntimeWarning, match="triton leaky kernel is not used.*trajectory differs"):
        assert "trajectory differs" in tleaky.supports(_x(), p)


@pytest.mark.parametrize("b", [0.2, "per-neuron"], ids=["float", "tensor"])
def test_the_alif_kernel_is_checked_too(b, monkeypatch):
    from spikeforge.functional.alif import ALIFParameters
    from spikeforge.kernels.triton import alif as talif

    if b == "per-neuron":
        b = torch.full((10,), 0.2)
    p = ALIFParameters(lif=LIFParameters(reset="subtract", v_th=torch.full((10,), 0.9)), b=b)
    calls = dict(talif.CALLS)
    assert talif.supports(_x(), p) is None
    assert calls == talif.CALLS
    real = talif.alif_sequence_triton

    def wrong(x, v0, a0, p):
        s, v, a = real(x, v0, a0, p)
        return s, v, a * 1.01

    monkeypatch.setattr(check, "_RESULTS", {})
    monkeypatch.setattr(talif, "alif_sequence_triton", wrong)
    with pytest.warns(RuntimeWarning, match="triton alif kernel is not used.*adaptation differs"):
        assert "final adaptation differs" in talif.supports(_x(), p)


@pytest.mark.parametrize("mode", ["inference_mode", "no_grad"])
def test_a_first_call_without_autograd_still_checks_the_kernel(mode):
    """The check needs autograd; a first call under inference mode (or no_grad) must not
    fail it and so disable the kernel for the whole process."""
    context = torch.inference_mode() if mode == "inference_mode" else torch.no_grad()
    with context:
        x = _x()
        assert tlif.supports(x, LIFParameters()) is None
        spikes, _ = lif_sequence(x, backend="triton")
    assert torch.equal(spikes, lif_sequence(_x(), backend="torch")[0])
