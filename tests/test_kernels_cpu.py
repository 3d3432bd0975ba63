"""The ``kernels/cpu`` package registers its three fused kernels into the one dispatch
table: ``"cpu"`` runs them when asked for, and ``"auto"`` picks them for CPU tensors
(Triton declines those outside its interpreter)."""

from __future__ import annotations

import pytest
import torch

from spikeforge.functional import backends
from spikeforge.functional.alif import ALIFParameters
from spikeforge.functional.leaky import LeakyParameters
from spikeforge.functional.lif import LIFParameters, lif_sequence
from spikeforge.kernels import available, dispatch, register_kernel
from spikeforge.kernels.cpu import _build, alif, leaky
from spikeforge.kernels.cpu import lif as cpu_lif
from spikeforge.kernels.cpu.lif import lif_sequence_cpu

FAMILIES = {
    "lif": (cpu_lif.lif_sequence_cpu, cpu_lif.supports, LIFParameters()),
    "leaky": (leaky.leaky_scan_cpu, leaky.supports, LeakyParameters()),
    "alif": (alif.alif_sequence_cpu, alif.supports, ALIFParameters()),
}


@pytest.fixture
def kernel_available() -> None:
    reason = _build.unavailable_reason()
    if reason is not None:
        pytest.skip(f"fused CPU kernel unavailable: {reason}")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_has_its_cpu_kernel_and_capability_check(family):
    fn, supports, _ = FAMILIES[family]
    assert "cpu" in available(family) and "torch" in available(family)
    kernel = backends._TABLE[(family, "cpu")]
    assert kernel.fn is fn and kernel.supports is supports


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_cpu_and_auto_dispatch_to_the_kernel(family, kernel_available, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)  # triton declines CPU tensors
    fn, _, p = FAMILIES[family]
    x = torch.randn(3, 2, 4)
    assert dispatch(family, "cpu", x, p) is fn
    assert dispatch(family, "auto", x, p) is fn
    # what the kernel cannot take (float16): "auto" falls back to the reference, "cpu" says why
    assert dispatch(family, "auto", x.half(), p) is backends._TABLE[(family, "torch")].fn
    with pytest.raises(ValueError, match=f"the 'cpu' kernel for '{family}' cannot run here"):
        dispatch(family, "cpu", x.half(), p)


def test_a_second_cpu_kernel_for_a_family_is_refused():
    with pytest.raises(ValueError, match="a 'cpu' kernel for 'lif' is already registered"):
        register_kernel("lif", "cpu")(lambda x, v0, p: (x, v0))


def test_fused_path_runs_for_cpu_and_auto(kernel_available, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    calls = _build.STATE.calls
    x = torch.randn(4, 2, 8, requires_grad=True)
    for backend in ("cpu", "auto"):
        f0, b0 = calls["forward"], calls["backward"]
        s, _ = lif_sequence(x, backend=backend)
        s.sum().backward()
        assert calls["forward"] == f0 + 1
        assert calls["backward"] == b0 + 1
    assert dispatch("lif", "auto", x, LIFParameters()) is lif_sequence_cpu
    f0 = calls["forward"]
    with torch.no_grad():
        lif_sequence(x, backend="cpu")
    assert calls["forward"] == f0 + 1
    f0 = calls["forward"]
    lif_sequence(x, backend="torch")
    assert calls["forward"] == f0
