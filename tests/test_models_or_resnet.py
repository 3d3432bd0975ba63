import copy

import pytest
import torch

from spikeforge.layers import SynAGate
from spikeforge.models import create, or_resnet
from spikeforge.models.or_resnet import OFFICIAL_NEURON, OfficialORBlock, ORBlock
from spikeforge.models.resnet import STAGES, BlockConfig

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny nets: one thread is faster


def _binary(t: torch.Tensor) -> bool:
    return set(t.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("name", ["or_resnet18", "syna_resnet18"])
def test_every_block_output_stays_binary(name, generator):
    torch.manual_seed(0)
    model = create(name, base_width=8)
    outputs: list[torch.Tensor] = []
    for module in model.modules():
        if isinstance(module, ORBlock):
            module.register_forward_hook(lambda m, i, o: outputs.append(o))
    model(2 * torch.rand(2, 2, 3, 16, 16, generator=generator))
    assert len(outputs) == 8 and all(_binary(o) for o in outputs)


def test_syna_option_places_promotion_and_inhibition_gates():
    plain = create("or_resnet18", base_width=8)
    assert not any(isinstance(m, SynAGate) for m in plain.modules())
    model = create("or_resnet18", base_width=8, syna=True)
    identity, projected = model.layer1[0], model.layer2[0]
    assert identity.promote.mode == "promote" and identity.inhibit.mode == "inhibit"
    assert projected.promote.mode == "promote"
    assert projected.downsample[1].mode == "inhibit"  # before the projection's SN


def test_closed_inhibition_gate_prunes_the_shortcut(generator):
    # "Natural pruning": with the shortcut gate shut the block is its residual path.
    block = ORBlock(4, 4, 1, BlockConfig("lif", {}), syna=True)
    with torch.no_grad():
        block.inhibit.open_bias.fill_(-100.0)
    spikes = (torch.rand(2, 2, 4, 6, 6, generator=generator) > 0.5).float()
    assert not block.shortcut(spikes).any()
    assert torch.equal(block(spikes), block.residual(spikes))


def test_time_axis_variant_is_tied_to_num_steps(generator):
    torch.manual_seed(0)
    model = create("syna_resnet18", base_width=8, syna_axis="time", num_steps=3, num_classes=4)
    x = 2 * torch.rand(3, 2, 3, 16, 16, generator=generator)
    assert model(x).shape == (3, 2, 4)
    with pytest.raises(ValueError, match="built for T=3 steps, got T=2"):
        model(x[:2])


# --- variant="official": the authors' structure (METHODS §15) ---------------------------

T = 8  # the authors use 16; the gate MLP is T -> T/4 -> T either way


def _official(name="syna_resnet18", **kwargs):
    torch.manual_seed(0)
    options = {"variant": "official", "base_width": 4, "num_classes": 3}
    if name.startswith("syna"):
        options["num_steps"] = T
    return create(name, **{**options, **kwargs})


def _blocks(model):
    return [(f"{stage}.{i}", b) for stage in STAGES for i, b in enumerate(getattr(model, stage))]


def _conv(module):
    return next(m for m in module.modules() if isinstance(m, torch.nn.Conv2d))


@pytest.mark.parametrize("name", ["or_resnet18", "syna_resnet18", "or_resnet34", "syna_resnet34"])
@pytest.mark.parametrize("stem", ["cifar", "imagenet"])
def test_official_joins_only_at_the_three_down_sampling_points(name, stem):
    model = _official(name, stem=stem)
    blocks = _blocks(model)
    assert all(isinstance(b, OfficialORBlock) for _, b in blocks)
    assert [n for n, b in blocks if b.joins] == ["layer2.0", "layer3.0", "layer4.0"]
    for _, block in blocks:
        # Down-sampling: Conv3×3/2 opens the residual path, Conv1×1/2 the shortcut.
        assert _conv(block.conv1).stride == ((2, 2) if block.joins else (1, 1))
        assert _conv(block.conv2).stride == (1, 1)
        if block.joins:
            projection = _conv(block.downsample)
            assert (projection.kernel_size, projection.stride) == ((1, 1), (2, 2))
        else:
            assert block.downsample is None and block.shortcut(None) is None


def test_official_forward_joins_three_times_plain_blocks_are_their_path(monkeypatch, generator):
    model = _official()
    calls = []

    def counting_or(a, s):
        calls.append(a.shape)
        return a + s - a * s

    monkeypatch.setattr(or_resnet, "spike_or", counting_or)
    x = 2 * torch.rand(T, 2, 3, 16, 16, generator=generator)
    outputs = {}
    for n, block in _blocks(model):
        block.register_forward_hook(lambda b, i, o, n=n: outputs.__setitem__(n, (i[0], o)))
    assert model(x).shape == (T, 2, 3)
    assert [shape[2:] for shape in calls] == [(8, 8, 8), (16, 4, 4), (32, 2, 2)]
    for n, block in _blocks(model):
        inputs, out = outputs[n]
        assert set(out.unique().tolist()) <= {0.0, 1.0}, n  # OR of spikes stays binary
        if not block.joins:
            assert torch.equal(out, block.residual(inputs)), n


def test_official_gates_ma_in_every_block_ia_in_projections_only():
    model = _official()
    gates = [m for m in model.modules() if isinstance(m, SynAGate)]
    assert len(gates) == 8 + 3
    for _, block in _blocks(model):
        ma = block.promote  # after the path's last BN, before its LIF — plain blocks too
        assert ma.mode == "promote" and ma.axis == "time" and ma.rectify
        if block.joins:
            ia = block.downsample[1]  # LIF(IA(BN(Conv1×1/2 x)))
            assert ia.mode == "inhibit" and ia.axis == "time" and ia.rectify
            assert ia.open_bias is None and ia.neuron is not None
    for gate in gates:  # shared MLP over the time axis: T -> T/4 -> T, no bias
        shapes = [tuple(p.shape) for p in gate.parameters()]
        assert shapes == [(T // 4, T), (T, T // 4)]
    plain = _official("or_resnet18")
    assert not any(isinstance(m, SynAGate) for m in plain.modules())


def test_official_gates_pool_over_c_h_w_and_attend_over_time(generator):
    gate = _official().layer2[1].promote
    x = torch.randn(T, 2, 8, 4, 4, generator=generator)
    weights = gate.gate(x)
    assert weights.shape == (T, 2, 1, 1, 1)  # one weight per (t, sample)
    shuffled = x[:, :, torch.randperm(8)][..., torch.randperm(4), :]
    assert torch.allclose(gate.gate(shuffled), weights)  # pooled over (C, H, W)
    assert torch.allclose(gate.gate(x[:, [1, 0]]), weights[:, [1, 0]])  # per sample
    later = x.clone()
    later[0] += 5.0  # the MLP mixes steps: step 0 moves the weights of the others
    assert not torch.allclose(gate.gate(later)[1:], weights[1:])


def test_official_ma_gate_in_open_unit_interval_ia_gate_binary(generator):
    model = _official()
    captured = []
    for gate in (m for m in model.modules() if isinstance(m, SynAGate)):
        gate.register_forward_hook(lambda g, i, o: captured.append((g, i[0])))
    model(2 * torch.rand(T, 2, 3, 16, 16, generator=generator))
    assert len(captured) == 11
    ia = []
    for gate, inputs in captured:
        weights = gate.gate(inputs)
        if gate.mode == "promote":
            assert ((weights > 0) & (weights < 1)).all()
        else:
            ia.append(weights)
            assert set(weights.unique().tolist()) <= {0.0, 1.0}
    assert len(ia) == 3 and any(w.any() for w in ia)  # some shortcut passes


def _run_with_block_outputs(model, x):
    outputs = []
    hooks = [b.register_forward_hook(lambda b, i, o: outputs.append(o)) for _, b in _blocks(model)]
    out = model(x)
    for hook in hooks:
        hook.remove()
    return [*outputs, out]


def test_closed_ia_gates_make_the_network_the_plain_one(generator):
    model = _official()  # training mode: batch statistics (fresh running ones are silent)
    plain = copy.deepcopy(model)
    for _, block in _blocks(plain):
        block.downsample = None  # no shortcut anywhere
    x = 2 * torch.rand(T, 2, 3, 16, 16, generator=generator)
    expected = _run_with_block_outputs(plain, x)
    ia_gates = [b.downsample[1] for _, b in _blocks(model) if b.joins]
    for fill in (1.0, 0.0):  # wide open (the shortcuts matter), then shut
        with torch.no_grad():
            for gate in ia_gates:
                for p in gate.mlp.parameters():
                    p.fill_(fill)  # logits 0 when shut: the gate's LIF never fires
        gates: list[torch.Tensor] = []
        hooks = [
            gate.register_forward_hook(lambda g, i, o, seen=gates: seen.append(g.gate(i[0])))
            for gate in ia_gates
        ]
        got = _run_with_block_outputs(model, x)
        for hook in hooks:
            hook.remove()
        assert len(gates) == 3 and all(bool((g == fill).all()) for g in gates)
        same = [torch.equal(a, b) for a, b in zip(got, expected, strict=True)]
        assert all(same) == (fill == 0.0), same


def test_official_parameter_counts():
    # §15 quotes no counts. Without SynA the official net has the zoo's parameters and
    # keys (the zoo's identity shortcuts have none); CIFAR OR-ResNet-18 at width 64 is the
    # common CIFAR ResNet-18's 11,173,962. SynA adds 2·T·(T/4) per gate: 8 MA + 3 IA
    # gates in ResNet-18, 16 + 3 in ResNet-34 (T = 16: 1,408 and 2,432).
    def count(model):
        return sum(p.numel() for p in model.parameters())

    with torch.device("meta"):
        for depth, gates in ((18, 11), (34, 19)):
            zoo = create(f"or_resnet{depth}", input_size=32)
            official = create(f"or_resnet{depth}", variant="official", input_size=32)
            syna = create(f"syna_resnet{depth}", variant="official", num_steps=16, input_size=32)
            assert count(official) == count(zoo)
            assert official.state_dict().keys() == zoo.state_dict().keys()
            assert count(syna) - count(official) == gates * 2 * 16 * 4
        assert count(create("or_resnet18", variant="official", input_size=32)) == 11_173_962


def test_official_options_are_checked(generator):
    with pytest.raises(ValueError, match="pass num_steps=T"):
        create("syna_resnet18", variant="official")
    with pytest.raises(ValueError, match="gates over time"):
        create("syna_resnet18", variant="official", num_steps=4, syna_axis="channel")
    with pytest.raises(ValueError, match="variant must be one of"):
        create("or_resnet18", variant="paper")
    model = _official(num_classes=2)
    with pytest.raises(ValueError, match=f"built for T={T} steps, got T=4"):
        model(torch.rand(4, 1, 3, 16, 16, generator=generator))
    create("or_resnet18", variant="official")(torch.rand(3, 1, 3, 8, 8))  # no gates: any T


def test_official_neuron_is_lif_tau2_vth1_atan_detached_reset():
    model = _official("or_resnet18", neuron_kwargs=OFFICIAL_NEURON)
    sn = model.layer1[0].sn1
    assert (sn.tau, sn.v_th, sn.detach_reset, type(sn.surrogate).__name__) == (
        2.0,
        1.0,
        True,
        "ATan",
    )
