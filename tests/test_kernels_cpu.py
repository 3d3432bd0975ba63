"""The ``kernels/cpu`` package registers its three fused kernels into the one dispatch
table: ``"cpu"`` runs them when asked for, and ``"auto"`` picks them for CPU tensors
(Triton declines those outside its interpreter). As ``torch.library`` custom ops they
are seen whole by ``torch.compile(fullgraph=True)`` and ``torch.export`` (zoo's
``csnn_tiny`` and the other fused neurons)."""

from __future__ import annotations

import copy

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
from spikeforge.models import create
from spikeforge.neurons.registry import create_neuron

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


# --- torch.compile and torch.export see the kernels as custom ops --------------------------
def _csnn_tiny() -> tuple[torch.nn.Module, torch.Tensor]:
    """The zoo's ``csnn_tiny`` (LIF, ``backend="auto"``) in float64 and an input
    ``[T=4, B=2, 1, 8, 8]`` (its default ``input_size`` 8, one channel)."""
    torch.manual_seed(0)
    model = create("csnn_tiny", num_classes=10).double()
    x = torch.rand(4, 2, 1, 8, 8, dtype=torch.float64) * 2
    return model, x


def _capturing(graphs: list[torch.fx.GraphModule], then: str = "aot_eager"):
    """A ``torch.compile`` backend that keeps dynamo's graph, then runs ``then``."""
    from torch._dynamo.backends.registry import lookup_backend

    def backend(gm: torch.fx.GraphModule, inputs: list[torch.Tensor]):
        graphs.append(gm)
        return lookup_backend(then)(gm, inputs)

    return backend


def _step(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Output ``[T, B, 10]`` and the parameter gradients of a weighted sum of it."""
    out = model(x)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    grads = torch.autograd.grad((out * weights).sum(), list(model.parameters()))
    return out.detach(), list(grads)


def test_csnn_tiny_compiles_as_one_graph_with_the_fused_kernel(kernel_available):
    """``fullgraph=True`` raises on any graph break; the one graph holds the fused op,
    which runs (forward and backward) in the compiled step, whose output and gradients
    equal eager's."""
    model, x = _csnn_tiny()
    eager = copy.deepcopy(model)
    graphs: list[torch.fx.GraphModule] = []
    compiled = torch.compile(model, fullgraph=True, backend=_capturing(graphs))
    calls = dict(_build.STATE.calls)
    out, grads = _step(compiled, x)
    lif_calls = {key: _build.STATE.calls[key] for key in ("forward", "backward")}
    assert lif_calls == {  # the LIF op's counters (other kernels keep their own keys)
        "forward": calls["forward"] + 2,
        "backward": calls["backward"] + 2,
    }
    assert len(graphs) == 1
    targets = [str(n.target) for n in graphs[0].graph.nodes]
    assert sum("spikeforge.lif_forward" in t for t in targets) == 2  # one per LIF layer
    out_e, grads_e = _step(eager, x)
    torch.testing.assert_close(out, out_e, rtol=1e-12, atol=1e-12)
    assert (out_e != 0).any() and len(grads) == len(grads_e) == 8
    for a, b in zip(grads, grads_e, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_csnn_tiny_exports_and_the_program_equals_eager(kernel_available, tmp_path):
    """``torch.export`` of the eval model (batch size dynamic) records the fused op
    (twice, one per LIF layer); the program, for another batch size too and after
    ``torch.export.save`` / ``load``, gives eager's output."""
    model, x = _csnn_tiny()
    model.eval()
    program = torch.export.export(model, (x,), dynamic_shapes=({1: torch.export.Dim("B")},))
    targets = [str(n.target) for n in program.graph.nodes]
    assert targets.count("spikeforge.lif_forward.default") == 2
    expected = model(x)
    assert torch.equal(program.module()(x), expected)
    x3 = torch.rand(4, 3, 1, 8, 8, dtype=torch.float64) * 2
    assert torch.equal(program.module()(x3), model(x3))
    torch.export.save(program, tmp_path / "csnn_tiny.pt2")
    loaded = torch.export.load(tmp_path / "csnn_tiny.pt2")
    assert torch.equal(loaded.module()(x), expected)


@pytest.mark.parametrize(
    ("neuron", "counters"),
    [("plif", "lif"), ("alif", "alif"), ("cuba", "leaky")],
)
def test_other_fused_neurons_compile_without_a_graph_break(kernel_available, neuron, counters):
    """PLIF (learnable 1/τ), ALIF and CuBa (a leaky scan, then LIF) compile in one graph
    too; outputs and every gradient equal eager's, and the family's kernel ran."""
    torch.manual_seed(1)
    layer = create_neuron(neuron).double()
    x = torch.randn(5, 2, 6, dtype=torch.float64) + 0.5
    count = {"lif": _build.STATE.calls, "alif": alif.CALLS, "leaky": leaky.CALLS}[counters]
    before = count["backward"]
    results = []
    for module in (torch.compile(copy.deepcopy(layer), fullgraph=True, backend="aot_eager"), layer):
        xg = x.clone().requires_grad_(True)
        out = module(xg)
        grads = torch.autograd.grad(out.sum(), [xg, *module.parameters()])
        results.append((out.detach(), grads))
    assert count["backward"] == before + 2  # compiled and eager both ran the fused backward
    torch.testing.assert_close(results[0], results[1], rtol=1e-12, atol=1e-12)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*torch.jit.script_method.*:DeprecationWarning")  # inductor's
def test_csnn_tiny_compiles_with_inductor_and_matches_eager(kernel_available):
    """The default ``torch.compile`` backend (Inductor generates C++ for the layers around
    the kernels: about a minute on 2 cores), float32, forward and backward."""
    model, x = _csnn_tiny()
    model, x = model.float(), x.float()
    eager = copy.deepcopy(model)
    calls = dict(_build.STATE.calls)
    out, grads = _step(torch.compile(model, fullgraph=True), x)
    assert _build.STATE.calls["backward"] == calls["backward"] + 2
    out_e, grads_e = _step(eager, x)
    torch.testing.assert_close(out, out_e, rtol=1e-5, atol=1e-5)
    for a, b in zip(grads, grads_e, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
