"""from_nir on graphs written by hand (as a peer would write them): the mapping back to
spikeforge neurons, ``dt`` from the caller when the graph has none, and a refusal naming
the node for everything a spikeforge layer cannot run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from spikeforge.export import NIRGraphModule, from_nir
from spikeforge.neurons import IF, LI, LIF, RLIF, CuBa

nir = pytest.importorskip("nir", reason="the nir package is not installed (pip install nir)")

N = 3


def _full(value: float) -> np.ndarray:
    return np.full(N, value, dtype=np.float64)


def _lif(**change: np.ndarray):
    fields = {
        "tau": _full(1e-3),
        "r": _full(10.0),
        "v_leak": _full(0.0),
        "v_threshold": _full(1.0),
        "v_reset": _full(0.0),
    }
    return nir.LIF(**{**fields, **change})


def _graph(*nodes):
    weight = np.eye(N, dtype=np.float32)
    return nir.NIRGraph.from_list(nir.Affine(weight=weight, bias=np.zeros(N, np.float32)), *nodes)


def test_a_peer_style_graph_needs_dt_and_then_maps_to_spikeforge_neurons():
    graph = _graph(_lif())  # τ_N = 1e-3, R = 10: snnTorch's Leaky(β = 0.9) at dt = 1e-4
    with pytest.raises(ValueError, match=r"no metadata\['dt'\]: pass from_nir\(graph, dt=...\)"):
        from_nir(graph)
    model = from_nir(graph, dt=1e-4)
    neuron = model[1]
    assert type(neuron) is LIF and neuron.tau == 10.0 and neuron.decay_input is False
    x = torch.rand(20, 2, N) * 0.5
    reference = LIF(tau=10.0, decay_input=False)(x)
    assert reference.sum() > 0 and torch.equal(model(x), reference)


def test_every_neuron_node_maps_to_its_spikeforge_neuron():
    dt = 1e-3
    nodes = {
        "if": nir.IF(r=_full(1 / dt), v_threshold=_full(0.5), v_reset=_full(0.0)),
        "cuba": nir.CubaLIF(
            tau_syn=_full(2e-3),
            tau_mem=_full(4e-3),
            r=_full(1.0),
            v_leak=_full(0.0),
            v_threshold=_full(1.0),
            v_reset=_full(0.0),
            w_in=_full(2.0),
        ),
        "li": nir.LI(tau=_full(3e-3), r=_full(3.0), v_leak=_full(0.0)),
        "i": nir.I(r=_full(1 / dt)),
    }
    got = {k: from_nir(_graph(n), dt=dt)[1] for k, n in nodes.items()}
    assert type(got["if"]) is IF and got["if"].v_th == 0.5
    assert type(got["cuba"]) is CuBa and got["cuba"].alpha == 0.5 and got["cuba"].tau == 4.0
    assert got["cuba"].decay_input is True
    assert type(got["li"]) is LI and got["li"].tau == 3.0 and got["li"].decay_input is False
    assert type(got["i"]) is LI and got["i"].tau is None


def test_a_recurrent_subgraph_becomes_rlif_and_a_branching_graph_a_graph_module():
    weight = np.array([[0.0, 0.5, 0.0], [0.2, 0.0, 0.0], [0.0, 0.0, -0.3]])
    sub = nir.NIRGraph(
        nodes={
            "i": nir.Input(input_type=np.array([N])),
            "lif": _lif(r=_full(1.0)),
            "w": nir.Linear(weight=weight),
            "o": nir.Output(output_type=np.array([N])),
        },
        edges=[("i", "lif"), ("lif", "w"), ("w", "lif"), ("lif", "o")],
    )
    outer = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([N])),
            "rec": sub,
            "output": nir.Output(output_type=np.array([N])),
        },
        edges=[("input", "rec"), ("rec", "output")],
    )
    model = nn.Sequential(nn.Identity(), from_nir(outer, dt=1e-4)[0])
    rlif = model[1]
    assert type(rlif) is RLIF and torch.equal(rlif.recurrent_weight, torch.from_numpy(weight))
    branch = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type=np.array([N])),
            "a": _lif(),
            "b": _lif(),
            "out": nir.Output(output_type=np.array([N])),
        },
        edges=[("in", "a"), ("in", "b"), ("a", "out"), ("b", "out")],
    )
    module = from_nir(branch, dt=1e-4)
    x = torch.rand(10, 2, N) * 3
    assert isinstance(module, NIRGraphModule)
    assert torch.equal(module(x), 2 * LIF(tau=10.0, decay_input=False)(x))


REFUSED = {
    "v_leak": (lambda: _lif(v_leak=_full(0.1)), "v_leak=0.1 differs from the rest 0.0"),
    "r": (lambda: _lif(r=_full(2.0)), "r=2.0 is neither 1"),
    "tau_below_dt": (lambda: _lif(tau=_full(5e-5)), "< 1: an Euler step"),
    "tau_per_neuron": (lambda: _lif(tau=np.array([1e-3, 2e-3, 1e-3])), "tau differs between"),
    "threshold": (lambda: _lif(v_threshold=_full(-1.0)), "v_threshold must be positive"),
    "if_r": (
        lambda: nir.IF(r=_full(1.0), v_threshold=_full(1.0), v_reset=_full(0.0)),
        "r must be 1/dt",
    ),
    "cuba_w_in": (
        lambda: nir.CubaLIF(
            tau_syn=_full(2e-4),
            tau_mem=_full(1e-3),
            r=_full(1.0),
            v_leak=_full(0.0),
            v_threshold=_full(1.0),
            w_in=_full(1.0),
        ),
        "w_in=1.0 differs from tau_syn/dt",
    ),
    "delay": (lambda: nir.Delay(delay=_full(1.0)), "no spikeforge layer runs this node type"),
    "threshold_node": (lambda: nir.Threshold(threshold=_full(1.0)), "no spikeforge layer"),
    "scale": (lambda: nir.Scale(scale=_full(2.0)), "no spikeforge layer"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_spikeforge_cannot_run_is_refused_naming_the_node(name):
    build, why = REFUSED[name]
    graph = _graph(build())
    (node,) = [
        k for k, n in graph.nodes.items() if not isinstance(n, nir.Input | nir.Output | nir.Affine)
    ]
    with pytest.raises(ValueError, match=why) as info:
        from_nir(graph, dt=1e-4)
    assert f"cannot import NIR node {node!r}" in str(info.value)


def test_a_cycle_outside_a_recurrent_subgraph_and_bad_arguments_are_refused(tmp_path):
    graph = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type=np.array([N])),
            "a": _lif(),
            "b": _lif(),
            "out": nir.Output(output_type=np.array([N])),
        },
        edges=[("in", "a"), ("a", "b"), ("b", "a"), ("b", "out")],
        type_check=False,
    )
    with pytest.raises(ValueError, match="it has a cycle outside a LIF"):
        from_nir(graph, dt=1e-4)
    with pytest.raises(TypeError, match="expects a nir.NIRGraph or a path, got int"):
        from_nir(3)
    with pytest.raises(ValueError, match="dt must be a positive"):
        from_nir(_graph(_lif()), dt=-1.0)
    path = tmp_path / "g.nir"
    nir.write(path, _graph(_lif()))
    assert type(from_nir(path, dt=1e-4)[1]) is LIF  # a path is read with nir.read


def test_a_spikingjelly_export_imports_with_the_same_spikes(tmp_path):
    """The other direction: SpikingJelly's own NIR exporter (dt = 1e-4) → from_nir."""
    import importlib
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sj = importlib.import_module("spikingjelly.activation_based.layer")
            neuron = importlib.import_module("spikingjelly.activation_based.neuron")
            functional = importlib.import_module("spikingjelly.activation_based.functional")
            to_nir = importlib.import_module("spikingjelly.activation_based.nir_exchange.to_nir")
    except Exception as error:
        pytest.skip(f"SpikingJelly not importable ({type(error).__name__}: {error})")
    torch.manual_seed(0)
    peer = nn.Sequential(sj.Linear(5, 4), neuron.LIFNode(tau=3.0, decay_input=False))
    with torch.no_grad():
        peer[0].weight.uniform_(-0.2, 0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = to_nir.export_to_nir(peer, torch.rand(1, 5), dt=1e-4)
    path = tmp_path / "sj.nir"
    nir.write(path, graph)
    model = from_nir(path, dt=1e-4)
    assert [type(m).__name__ for m in model] == ["TimeFold", "LIF"]
    assert model[1].tau == 3.0 and model[1].decay_input is False
    x = torch.rand(25, 3, 5) * 2
    functional.reset_net(peer)
    theirs = torch.stack([peer(x_t) for x_t in x])
    ours = model(x)
    assert ours.sum() > 10 and torch.equal(ours, theirs)
