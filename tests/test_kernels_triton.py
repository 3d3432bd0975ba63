"""The ``kernels/triton`` package registers its three kernels into the one dispatch table
without importing ``triton``; under the interpreter, ``"triton"`` and ``"auto"`` run them
for CPU tensors, and without it (no CUDA tensor) ``"auto"`` passes them by."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from spikeforge.functional import backends
from spikeforge.functional.alif import ALIFParameters
from spikeforge.functional.leaky import LeakyParameters
from spikeforge.functional.lif import LIFParameters, lif_sequence
from spikeforge.kernels import AUTO_ORDER, available, dispatch, register_kernel
from spikeforge.kernels.triton import alif, leaky
from spikeforge.kernels.triton import lif as tlif
from spikeforge.kernels.triton.lif import lif_sequence_triton

pytestmark = pytest.mark.usefixtures("interpret")  # see conftest.py

FAMILIES = {
    "lif": (tlif.lif_sequence_triton, tlif.supports, LIFParameters()),
    "leaky": (leaky.leaky_scan_triton, leaky.supports, LeakyParameters()),
    "alif": (alif.alif_sequence_triton, alif.supports, ALIFParameters()),
}


@pytest.mark.no_interpreter
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_has_its_triton_kernel_first_in_auto(family):
    fn, supports, _ = FAMILIES[family]
    assert "triton" in available(family)
    kernel = backends._TABLE[(family, "triton")]
    assert kernel.fn is fn and kernel.supports is supports
    assert AUTO_ORDER[0] == "triton"


@pytest.mark.no_interpreter
def test_registering_imports_no_triton():
    code = "import sys, spikeforge; print(sorted(m for m in sys.modules if m.startswith('triton')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.no_interpreter
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_cpu_tensors_without_the_interpreter_pass_triton_by(family, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET")
    fn, _, p = FAMILIES[family]
    x = torch.randn(3, 2, 4)
    assert dispatch(family, "auto", x, p) is not fn
    with pytest.raises(ValueError, match=f"the 'triton' kernel for '{family}' cannot run here"):
        dispatch(family, "triton", x, p)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_interpreter_takes_cpu_tensors(family):
    fn, _, p = FAMILIES[family]
    x = torch.randn(3, 2, 4)
    assert dispatch(family, "triton", x, p) is fn
    assert dispatch(family, "auto", x, p) is fn


@pytest.mark.no_interpreter
def test_a_second_triton_kernel_for_a_family_is_refused():
    with pytest.raises(ValueError, match="a 'triton' kernel for 'alif' is already registered"):
        register_kernel("alif", "triton")(lambda x, v0, a0, p: (x, v0, a0))


def test_triton_path_runs_for_triton_and_auto():
    """Under the interpreter ``auto`` prefers triton; the kernels are built once per
    interpreter mode and are interpreted ones."""
    x = torch.randn(4, 2, 8, requires_grad=True)
    for backend in ("triton", "auto"):
        f0, b0 = tlif.CALLS["forward"], tlif.CALLS["backward"]
        s, _ = lif_sequence(x, backend=backend)
        s.sum().backward()
        assert (tlif.CALLS["forward"], tlif.CALLS["backward"]) == (f0 + 1, b0 + 1)
    assert dispatch("lif", "auto", x, LIFParameters()) is lif_sequence_triton
    kernels = tlif._kernels()
    assert kernels is tlif._build(True)
    assert type(kernels.lif_forward).__name__ == "InterpretedFunction"
    f0 = tlif.CALLS["forward"]
    with torch.no_grad():
        s, state = lif_sequence(x, backend="triton")
    assert not s.requires_grad and not state.v.requires_grad
    lif_sequence(x, backend="torch")
    assert tlif.CALLS["forward"] == f0 + 1
