"""NIR export: round trips (export → nir.write → nir.read → from_nir) with identical
parameters and float64 outputs, hand Euler integration of the NIR equations, refusals,
and cross-import into snnTorch, SpikingJelly and Norse (skipped, with the reason, when a
peer is not installed)."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from spikeforge.export import CubaLI, NIRExportError, NIRGraphModule, from_nir, to_nir
from spikeforge.layers import fold
from spikeforge.models import create
from spikeforge.models.resnet import BlockConfig
from spikeforge.models.sew_resnet import SEWBlock
from spikeforge.neurons import ALIF, IF, LI, LIF, PLIF, PSN, RLIF, CuBa, ParaLIF

nir = pytest.importorskip("nir", reason="the nir package is not installed (pip install nir)")


def _roundtrip(model: nn.Module, shape: tuple, tmp_path, dt: float = 1.0):
    graph = to_nir(model, shape, dt=dt)
    path = tmp_path / "model.nir"
    nir.write(path, graph)
    read = nir.read(path)
    return graph, read, from_nir(read)


def _arrays(graph, prefix: str = "") -> dict[str, np.ndarray]:
    """Every numeric field of every node (subgraphs too), by ``node.field``."""
    out = {}
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            out.update(_arrays(node, f"{prefix}{name}/"))
            continue
        for key, value in vars(node).items():
            if key not in ("input_type", "output_type", "metadata") and not isinstance(value, str):
                out[f"{prefix}{name}.{key}"] = np.asarray(value)
    return out


def _same_arrays(a, b) -> None:
    left, right = _arrays(a), _arrays(b)
    assert left.keys() == right.keys()
    for key in left:
        assert left[key].dtype == right[key].dtype, key
        np.testing.assert_array_equal(left[key], right[key], err_msg=key)


def _layer_params(model: nn.Module) -> list:
    """Weights and every neuron's dynamics, in module order."""
    out = []
    for m in model.modules():
        if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d):
            out.append((type(m).__name__, m.weight, m.bias))
        elif isinstance(m, LIF | LI | CubaLI):
            fields = ("charge", "tau", "v_th", "v_reset", "reset_mode", "decay_input", "alpha")
            out.append(
                (
                    type(m).__name__,
                    *(getattr(m, f, None) for f in fields),
                    getattr(m, "recurrent_weight", None),
                )
            )
    return out


def _assert_same_params(a: nn.Module, b: nn.Module) -> None:
    pa, pb = _layer_params(a), _layer_params(b)
    assert len(pa) == len(pb) and pa
    for x, y in zip(pa, pb, strict=True):
        assert len(x) == len(y)
        for u, v in zip(x, y, strict=True):
            if isinstance(u, torch.Tensor) or isinstance(v, torch.Tensor):
                assert torch.equal(u, v), (x[0], u, v)
            else:
                assert u == v, (x[0], u, v)


def _seq(*layers: nn.Module) -> nn.Sequential:
    return nn.Sequential(*layers).double()


def _thresholds(n: int) -> LIF:
    neuron = LIF(tau=3.0, learn_threshold=True, param_shape=(n,))
    with torch.no_grad():
        neuron.v_th.copy_(torch.linspace(0.5, 1.5, n))
    return neuron


LAYERS = {
    "affine_lif": (lambda: _seq(fold(nn.Linear(6, 5)), LIF(tau=3.0)), (6,)),
    "linear_lif_no_decay": (
        lambda: _seq(
            fold(nn.Linear(6, 5, bias=False)),
            LIF(tau=4.0, decay_input=False, v_th=0.8, v_reset=-0.2),
        ),
        (6,),
    ),
    "if": (lambda: _seq(fold(nn.Linear(6, 5)), IF(v_th=1.5)), (6,)),
    "lif_detach_reset": (lambda: _seq(fold(nn.Linear(6, 5)), LIF(detach_reset=True)), (6,)),
    "lif_per_neuron_threshold": (lambda: _seq(fold(nn.Linear(6, 5)), _thresholds(5)), (6,)),
    "cuba": (lambda: _seq(fold(nn.Linear(6, 5)), CuBa(alpha=0.7, tau=4.0)), (6,)),
    "cuba_decay_input": (
        lambda: _seq(fold(nn.Linear(6, 5)), CuBa(alpha=0.3, decay_input=True)),
        (6,),
    ),
    "li": (lambda: _seq(fold(nn.Linear(6, 5)), LI(tau=3.0)), (6,)),
    "li_no_decay": (lambda: _seq(fold(nn.Linear(6, 5)), LI(tau=5.0, decay_input=False)), (6,)),
    "integrator": (lambda: _seq(fold(nn.Linear(6, 5)), LI(tau=None)), (6,)),
    "cuba_li": (lambda: _seq(fold(nn.Linear(6, 5)), CubaLI(alpha=0.6, tau=2.5)), (6,)),
    "rlif_one_to_one": (lambda: _seq(fold(nn.Linear(6, 5)), RLIF(5, tau=3.0)), (6,)),
    "rlif_all_to_all": (lambda: _seq(fold(nn.Linear(6, 5)), RLIF(5, all_to_all=True)), (6,)),
    "conv1d": (
        lambda: _seq(
            fold(nn.Conv1d(2, 3, 3, padding=1)), LIF(), fold(nn.Flatten()), fold(nn.Linear(36, 4))
        ),
        (2, 12),
    ),
    "conv2d_pools": (
        lambda: _seq(
            fold(nn.Conv2d(2, 4, 3, stride=2, padding=1)),
            LIF(),
            fold(nn.AvgPool2d(2)),
            fold(nn.Conv2d(4, 3, 1)),
            IF(),
            fold(nn.AvgPool2d(2, divisor_override=1)),  # SumPool2d
            fold(nn.Flatten()),
            fold(nn.Linear(3, 2)),
            LI(tau=2.0),
        ),
        (2, 8, 8),
    ),
}


@pytest.mark.parametrize("dt", [1.0, 1e-4])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_round_trip_is_exact_for_every_exportable_layer(name, dt, tmp_path):
    torch.manual_seed(0)
    build, shape = LAYERS[name]
    model = _strong(build())
    graph, read, imported = _roundtrip(model, shape, tmp_path, dt)
    _same_arrays(graph, read)  # the file holds exactly what was exported
    _assert_same_params(model, imported)  # and the import gives back the very parameters
    x = torch.rand(12, 3, *shape, dtype=torch.float64) * 3
    out, back = model(x), imported(x)
    assert torch.equal(out, back)
    assert out.abs().sum() > 0  # spikes or membranes: the test is not vacuous
    _same_arrays(graph, to_nir(imported, shape, dt=dt))  # and re-exports to the same graph


def test_round_trip_steps_through_time_like_the_original(tmp_path):
    """Streaming the imported neuron step by step gives the original's sequence output."""
    torch.manual_seed(1)
    model = _seq(fold(nn.Linear(4, 3)), CuBa(alpha=0.5, tau=3.0))
    _, _, imported = _roundtrip(model, (4,), tmp_path, dt=1e-3)
    x = torch.rand(15, 2, 4, dtype=torch.float64) * 3
    current, state, steps = imported[0](x), None, []
    for t in range(x.shape[0]):
        s, state = imported[1].step(current[t], state)
        steps.append(s)
    assert torch.equal(torch.stack(steps), model(x)) and model(x).sum() > 0


def _bn(n: int, dims: int) -> nn.Module:
    """A BatchNorm with non-trivial running statistics and affine parameters."""
    bn = (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(n)
    with torch.no_grad():
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.3, 0.3)
    return bn


def _randomize_norms(model: nn.Module) -> nn.Module:
    torch.manual_seed(3)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.8, 1.6)
                m.bias.uniform_(0.0, 0.4)
    return model.eval().double()


def _sew_block() -> nn.Module:
    cfg = BlockConfig("lif", {"tau": 2.0})
    return nn.Sequential(
        fold(nn.Conv2d(2, 4, 3, padding=1)), LIF(), SEWBlock(4, 4, 1, cfg), SEWBlock(4, 6, 2, cfg)
    )


ZOO = {
    "spiking_mlp": (
        lambda: create(
            "spiking_mlp", num_classes=3, in_channels=1, input_size=4, hidden_sizes=[8, 6]
        ),
        (1, 4, 4),
    ),
    "csnn_tiny": (lambda: create("csnn_tiny", num_classes=3, widths=(4, 6)), (1, 8, 8)),
    "sew_block": (_sew_block, (2, 8, 8)),
    "spiking_mlp_rlif_spiking_readout": (
        lambda: create(
            "spiking_mlp",
            num_classes=3,
            in_features=6,
            hidden_sizes=[5],
            neuron="rlif",
            readout="spiking",
        ),
        (6,),
    ),
    "spiking_resnet18_tdbn": (
        lambda: create(
            "spiking_resnet18",
            num_classes=3,
            in_channels=1,
            base_width=2,
            input_size=8,
            norm="tdbn",
        ),
        (1, 8, 8),
    ),
    "sew_resnet18": (
        lambda: create("sew_resnet18", num_classes=3, in_channels=1, base_width=2, input_size=8),
        (1, 8, 8),
    ),
}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_models_round_trip(name, tmp_path):
    """BatchNorm is folded into the conv/linear before it, so the import equals the model
    up to the rounding of that fold; import → re-export → import is then exact."""
    torch.manual_seed(2)
    build, shape = ZOO[name]
    model = _randomize_norms(build())
    graph, read, imported = _roundtrip(model, shape, tmp_path, dt=1e-4)
    _same_arrays(graph, read)
    x = torch.rand(6, 2, *shape, dtype=torch.float64) * 2
    out, back = model(x), imported(x)
    torch.testing.assert_close(back, out, rtol=0, atol=1e-10)
    regraph = to_nir(imported, shape, dt=1e-4)
    _same_arrays(graph, regraph)
    again = from_nir(regraph)
    assert torch.equal(again(x), back)
    _assert_same_params(imported, again)
    if name.startswith("sew"):
        assert isinstance(imported, NIRGraphModule)  # the residual ADD: two edges into one node
        joined = [n for n in graph.nodes if sum(dst == n for _, dst in graph.edges) == 2]
        assert joined


def test_batchnorm_fold_uses_the_running_statistics(tmp_path):
    torch.manual_seed(4)
    model = _seq(fold(nn.Linear(5, 4), _bn(4, 1)), LIF()).eval()
    graph, _, imported = _roundtrip(model, (5,), tmp_path)
    x = torch.rand(8, 3, 5, dtype=torch.float64) * 3
    torch.testing.assert_close(imported(x), model(x), rtol=0, atol=0)  # spikes: identical
    bn = model[0].layer[1]
    w = model[0].layer[0].weight * (bn.weight / torch.sqrt(bn.running_var + bn.eps))[:, None]
    np.testing.assert_allclose(graph.nodes["0_0"].weight, w.detach().numpy(), rtol=1e-12)
    model.train()
    with pytest.warns(UserWarning, match="training mode"):
        to_nir(model, (5,))


# --- the NIR equations, integrated by hand -------------------------------------------


def _euler(node, dt: float, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward Euler of the NIR ODE, one neuron array: ``(spikes or membrane, v)``.

    LIF/LI: ``τ v̇ = (v_leak − v) + R I``; IF/I: ``v̇ = R I``; Cuba*: ``τ_syn İ = −I + w_in
    S`` first, its new value driving the membrane. Spike ``v > v_threshold``, reset to
    ``v_reset``. Membranes start at ``v_leak`` (0 for IF/I and the synapse).
    """
    kind = type(node).__name__
    v = np.array(getattr(node, "v_leak", np.zeros_like(current[0])), dtype=np.float64)
    syn = np.zeros_like(v)
    outs = []
    for i_t in current:
        if kind.startswith("Cuba"):
            syn = syn + dt / node.tau_syn * (-syn + node.w_in * i_t)
            i_t = syn
        if kind in ("IF", "I"):
            v = v + dt * node.r * i_t
        else:
            tau = node.tau_mem if kind.startswith("Cuba") else node.tau
            v = v + dt / tau * (node.v_leak - v + node.r * i_t)
        if kind in ("LI", "I", "CubaLI"):
            outs.append(v.copy())
            continue
        spike = v > node.v_threshold
        v = np.where(spike, node.v_reset, v)
        outs.append(spike.astype(np.float64))
    return np.stack(outs), v


NEURONS = {
    "lif": lambda: LIF(tau=3.0, v_th=0.7),
    "lif_no_decay_reset": lambda: LIF(tau=5.0, decay_input=False, v_reset=-0.3),
    "if": lambda: IF(v_th=1.2),
    "cuba": lambda: CuBa(alpha=0.5, tau=4.0, v_th=3.0),
    "li": lambda: LI(tau=4.0),
    "integrator": lambda: LI(tau=None),
    "cuba_li": lambda: CubaLI(alpha=0.5, tau=3.0),
}


@pytest.mark.parametrize("dt", [1.0, 1e-3])
@pytest.mark.parametrize("name", sorted(NEURONS))
def test_single_neuron_equals_hand_euler_integration_of_the_nir_node(name, dt, tmp_path):
    neuron = NEURONS[name]()
    path = tmp_path / "n.nir"
    nir.write(path, to_nir(neuron, (1,), dt=dt))
    graph = nir.read(path)
    (node,) = [n for n in graph.nodes.values() if not isinstance(n, nir.Input | nir.Output)]
    assert float(graph.metadata["dt"]) == dt
    current = np.random.default_rng(5).uniform(0, 1.6, size=(40, 1))
    expected, _ = _euler(node, dt, current)
    x = torch.from_numpy(current).reshape(40, 1, 1)
    got = neuron(x).reshape(40, 1).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    if not isinstance(neuron, LI | CubaLI):
        assert 3 <= expected.sum() <= 37  # it spiked, and not at every step


def test_firing_at_exact_threshold_is_the_one_difference_from_nir():
    """spikeforge fires at V ≥ V_th, NIR at v > v_threshold: a membrane exactly on the
    threshold spikes here and not in a NIR simulator (documented in nir_graph)."""
    neuron = IF(v_th=1.0)
    (node,) = [n for n in to_nir(neuron, (1,)).nodes.values() if isinstance(n, nir.IF)]
    current = np.array([[0.5], [0.5], [0.25]])  # the membrane is exactly 1.0 after step 2
    ours = neuron(torch.from_numpy(current).reshape(3, 1, 1)).reshape(3).tolist()
    theirs = _euler(node, 1.0, current)[0].reshape(3).tolist()
    assert ours == [0.0, 1.0, 0.0] and theirs == [0.0, 0.0, 1.0]


# --- refusals ------------------------------------------------------------------------


def _sew(connect: str) -> nn.Module:
    return SEWBlock(2, 2, 1, BlockConfig("lif", {}), connect=connect)


REFUSED = {
    "subtract_reset": (lambda: _seq(fold(nn.Linear(3, 3)), LIF(reset="subtract")), "subtract"),
    "no_reset": (lambda: _seq(fold(nn.Linear(3, 3)), LIF(reset="none")), "no reset"),
    "graded": (lambda: _seq(fold(nn.Linear(3, 3)), LIF(graded=True)), "graded"),
    "alif": (lambda: _seq(fold(nn.Linear(3, 3)), ALIF(reset="zero")), "adapts"),
    "psn": (lambda: _seq(fold(nn.Linear(3, 3)), PSN(T=4)), "parallel neuron"),
    "paralif": (lambda: _seq(fold(nn.Linear(3, 3)), ParaLIF()), "parallel neuron"),
    "cuba_alpha_1": (lambda: _seq(fold(nn.Linear(3, 3)), CuBa(alpha=1.0)), "infinite"),
    "maxpool": (lambda: _seq(fold(nn.MaxPool2d(2))), "max-pooling"),
    "lone_batchnorm": (lambda: _seq(LIF(), fold(nn.BatchNorm1d(3))), "folded into"),
    "relu": (lambda: _seq(fold(nn.ReLU())), "no NIR node"),
    "flatten_batch": (lambda: _seq(fold(nn.Flatten(0))), "batch"),
    "rlif_on_images": (lambda: _seq(RLIF(2)), r"needs \[T, B, 2\]"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_non_representable_layers_are_refused_by_name(name):
    build, why = REFUSED[name]
    model = build()
    shape = (2, 2, 2) if name in ("maxpool", "rlif_on_images") else (3,)
    with pytest.raises(NIRExportError, match=why) as info:
        to_nir(model, shape)
    assert "cannot export layer" in str(info.value) and "(" in str(info.value)


@pytest.mark.parametrize("connect", ["and", "iand"])
def test_sew_products_are_refused(connect):
    with pytest.raises(NIRExportError, match=f"connect='{connect}' multiplies"):
        to_nir(_sew(connect), (2, 4, 4))


def test_plif_exports_its_learned_tau_and_imports_as_lif(tmp_path):
    """PLIF's 1/τ = sigmoid(w) goes out as τ_N = τ·dt; it comes back as a LIF with that τ
    (equal dynamics up to the rounding of 1/(1/sigmoid(w)), not a PLIF)."""
    torch.manual_seed(6)
    model = _seq(fold(nn.Linear(4, 3)), PLIF(tau=3.0))
    _, _, imported = _roundtrip(model, (4,), tmp_path)
    assert type(imported[1]) is LIF
    learned = 1.0 / torch.sigmoid(model[1].decay_logit).item()
    assert imported[1].tau == pytest.approx(learned, rel=1e-15)
    x = torch.rand(10, 2, 4, dtype=torch.float64) * 3
    assert torch.equal(imported(x), model(x))


def test_approximate_exports_a_soft_reset_as_hard_with_a_warning():
    model = _seq(fold(nn.Linear(3, 3)), LIF(reset="subtract", v_reset=0.0))
    with pytest.warns(UserWarning, match=r"layer 1 \(LIF\) has a subtract"):
        graph = to_nir(model, (3,), approximate=True)
    lif = graph.nodes["1"]
    assert isinstance(lif, nir.LIF) and np.all(lif.v_reset == 0.0)
    assert isinstance(from_nir(graph)[1], LIF) and from_nir(graph)[1].reset_mode == "zero"


def test_bad_arguments_are_named():
    model = _seq(fold(nn.Linear(3, 3)), LIF())
    with pytest.raises(ValueError, match="dt must be a positive"):
        to_nir(model, (3,), dt=0)
    with pytest.raises(ValueError, match="input_shape must be"):
        to_nir(model, ())
    with pytest.raises(ValueError, match=r"layer 0 \(Linear\).*per-sample shape \(4,\)"):
        to_nir(model, (4,))


# --- cross-import into peers ----------------------------------------------------------


def _peer(module: str):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(module)
    except Exception as error:  # a missing package or one of its dependencies
        pytest.skip(
            f"{module} not importable ({type(error).__name__}: {error}); "
            "make test installs it (Makefile NIR_PEERS)"
        )


def _stepped(module, x: torch.Tensor, explicit_state: bool) -> torch.Tensor:
    """Run a peer's per-step NIR module over ``x`` ``[T, B, ...]``."""
    outs, state = [], None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x_t in x:
            out = module(x_t, state) if explicit_state or state is not None else module(x_t)
            out, state = out if isinstance(out, tuple) else (out, None)
            outs.append(out)
    return torch.stack(outs)


def _strong(model: nn.Module) -> nn.Module:
    torch.manual_seed(7)
    for m in model.modules():
        if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d):
            with torch.no_grad():
                m.weight.uniform_(-0.4, 0.9)
    return model


def test_snntorch_imports_the_file_and_gives_the_same_spikes(tmp_path, capsys):
    """snnTorch reads LIF as Leaky(β = 1 − dt/τ_N), threshold scaled by R·dt/τ_N: equal
    to decay_input=False with v_reset = 0 (its only reset value); dt = 1e-4 is fixed."""
    _peer("snntorch")
    importer = _peer("snntorch.import_nir")
    model = _strong(
        nn.Sequential(
            fold(nn.Linear(6, 8)),
            LIF(tau=4.0, decay_input=False),
            fold(nn.Linear(8, 4)),
            LIF(tau=2.0, decay_input=False),
        )
    )
    path = tmp_path / "m.nir"
    nir.write(path, to_nir(model, (6,), dt=1e-4))
    peer = importer.import_from_nir(nir.read(path))
    x = torch.rand(25, 3, 6)
    ours, theirs = model(x), _stepped(peer, x, explicit_state=False)
    assert ours.sum() > 20 and torch.equal(theirs, ours)


def test_spikingjelly_imports_the_file_and_gives_the_same_spikes(tmp_path):
    """SpikingJelly maps LIF (R = 1: decay_input), IF (R = 1/dt) and conv/pool/flatten."""
    importer = _peer("spikingjelly.activation_based.nir_exchange.from_nir")
    model = _strong(
        nn.Sequential(
            fold(nn.Conv2d(1, 4, 3, padding=1)),
            LIF(tau=2.0, v_reset=-0.1),
            fold(nn.AvgPool2d(2)),
            fold(nn.Flatten()),
            fold(nn.Linear(64, 5)),
            IF(v_th=1.5),
        )
    )
    path = tmp_path / "m.nir"
    nir.write(path, to_nir(model, (1, 8, 8), dt=1e-4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = importer.import_from_nir(str(path), dt=1e-4)
    x = torch.rand(20, 2, 1, 8, 8) * 1.5
    ours, theirs = model(x), _stepped(peer, x, explicit_state=True)
    assert ours.sum() > 20 and torch.equal(theirs, ours)


def test_norse_imports_the_file_and_gives_the_same_spikes(tmp_path):
    """Norse's LIFBoxCell is the R = 1 LIF with v_reset = 0 (decay_input=True)."""
    norse = _peer("norse.torch")
    model = _strong(
        nn.Sequential(fold(nn.Linear(6, 8)), LIF(tau=3.0), fold(nn.Linear(8, 4)), LIF(tau=2.0))
    )
    path = tmp_path / "m.nir"
    nir.write(path, to_nir(model, (6,), dt=1e-3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = norse.from_nir(nir.read(path), dt=1e-3)
    x = torch.rand(25, 3, 6) * 2
    ours, theirs = model(x), _stepped(peer, x, explicit_state=True)
    assert ours.sum() > 20 and torch.equal(theirs, ours)


def test_csnn_tiny_runs_in_spikingjelly_with_the_same_outputs(tmp_path):
    """A zoo model (BatchNorm folded, analog linear readout) in SpikingJelly's importer."""
    importer = _peer("spikingjelly.activation_based.nir_exchange.from_nir")
    model = _randomize_norms(create("csnn_tiny", num_classes=4, widths=(4, 6))).float()
    path = tmp_path / "csnn.nir"
    nir.write(path, to_nir(model, (1, 8, 8), dt=1e-4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = importer.import_from_nir(str(path), dt=1e-4)
    x = torch.rand(8, 3, 1, 8, 8) * 2
    with torch.no_grad():
        ours, theirs = model(x), _stepped(peer, x, explicit_state=True)
    spikes = model[:2](x)
    assert 0.05 < spikes.mean() < 0.95  # the first LIF layer is neither silent nor saturated
    torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-5)
