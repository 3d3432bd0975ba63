"""The one dispatch table from (neuron family, backend) to a kernel
(``functional/backends.py``): registration, what ``"auto"`` picks, and the errors that
name what is available and why a kernel cannot run."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from spikeforge.functional import backends
from spikeforge.functional.alif import alif_sequence_reference
from spikeforge.functional.backends import AUTO_ORDER, BACKENDS, Kernel, available, dispatch
from spikeforge.functional.backends import register_kernel as register
from spikeforge.functional.leaky import leaky_scan_reference
from spikeforge.functional.lif import lif_sequence_reference


@pytest.fixture
def table(monkeypatch) -> dict:
    """A copy of the table for the test (the real registrations stay untouched)."""
    copy = dict(backends._TABLE)
    monkeypatch.setattr(backends, "_TABLE", copy)
    return copy


def _kernel(label: str):
    def fn(x, v0, p):
        return label

    return fn


def test_every_reference_is_its_familys_torch_kernel():
    for family, reference in (
        ("lif", lif_sequence_reference),
        ("leaky", leaky_scan_reference),
        ("alif", alif_sequence_reference),
    ):
        assert backends._TABLE[(family, "torch")].fn is reference
        assert dispatch(family, "torch", torch.zeros(2, 1), None) is reference
    assert BACKENDS == ("auto", "torch", "cpu", "triton") and set(AUTO_ORDER) == {"cpu", "triton"}


def test_registering_returns_the_function_and_refuses_duplicates(table):
    fn = _kernel("torch")
    assert register("fam", "torch")(fn) is fn
    assert table[("fam", "torch")] == Kernel(fn, backends._always)
    assert available("fam") == ["torch"]
    with pytest.raises(ValueError, match="a 'torch' kernel for 'fam' is already registered"):
        register("fam", "torch")(_kernel("again"))
    for backend in ("auto", "cuda"):
        with pytest.raises(
            ValueError, match=r"backend must be one of \('torch', 'cpu', 'triton'\)"
        ):
            register("fam", backend)


def test_auto_takes_the_first_backend_that_supports_the_input(table):
    x = torch.zeros(3, 2)
    reference, cpu, triton = _kernel("torch"), _kernel("cpu"), _kernel("triton")
    register("fam", "torch")(reference)
    register("fam", "cpu", supports=lambda x, p: None if x.dtype == torch.float32 else "f32 only")(
        cpu
    )
    register("fam", "triton", supports=lambda x, p: None if p == "gpu" else "no GPU")(triton)
    assert AUTO_ORDER == ("triton", "cpu")
    assert dispatch("fam", "auto", x, "gpu") is triton  # first in AUTO_ORDER
    assert dispatch("fam", "auto", x, None) is cpu  # triton declines
    assert dispatch("fam", "auto", x.double(), None) is reference  # both decline
    assert dispatch("fam", "cpu", x, None) is cpu


def test_errors_name_the_reason_and_what_is_available(table):
    x = torch.zeros(3, 2)
    register("fam", "torch")(_kernel("torch"))
    register("fam", "cpu", supports=lambda x, p: "f32 only")(_kernel("cpu"))
    with pytest.raises(ValueError, match="the 'cpu' kernel for 'fam' cannot run here: f32 only"):
        dispatch("fam", "cpu", x, None)
    with pytest.raises(
        ValueError,
        match=r"no 'triton' kernel for neuron family 'fam'; available: \['torch', 'cpu'\] "
        r"\(importing spikeforge.kernels registers them\)",
    ):
        dispatch("fam", "triton", x, None)
    with pytest.raises(
        ValueError, match=r"no 'torch' kernel for neuron family 'other'; available: \[\]$"
    ):
        dispatch("other", "auto", x, None)  # nothing fused, no reference either
    with pytest.raises(
        ValueError, match=r"backend must be one of \('auto', 'torch', 'cpu', 'triton'\), got 'gpu'"
    ):
        dispatch("fam", "gpu", x, None)


def test_the_table_imports_nothing_of_spikeforge():
    tree = ast.parse(Path(backends.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not (node.module or "").startswith("spikeforge")
        elif isinstance(node, ast.Import):
            assert not any(a.name.startswith("spikeforge") for a in node.names)
