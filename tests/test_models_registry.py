"""The model registry (``models/registry.py``: ``MODELS``, ``create``) and registry-parametrised
checks over every registered model (timm ``test_models`` style).

Each model runs a tiny configuration on ``[T=2, B=2, C, H, W]``: finite output of shape
``[T, B, num_classes]`` and a non-zero gradient on every parameter (catches dead
surrogates, detached paths and unused layers). Register a new model -> add its tiny
options to ``TINY``, or, if it is not a neuron-injected spiking net, name the test module
that covers it in ``OWN_TESTS`` (``test_every_registered_model_is_covered`` enforces it).
"""

from pathlib import Path

import pytest
import torch

from spikeforge.models import MODELS, create
from spikeforge.neurons import IF, LIF

NUM_CLASSES = 5
DEFAULT = {"in_channels": 3, "size": 16, "drive": 2}
TINY: dict[str, dict] = {
    "csnn_tiny": {"in_channels": 1, "size": 8, "input_size": 8},
    # BN over only T·B = 4 samples bounds |z| <= sqrt(3): below what a τ=2 LIF needs
    # to fire within 2 steps, so lower the threshold (conv nets pool over space too).
    "spiking_mlp": {
        "in_channels": 2,
        "size": 8,
        "input_size": 8,
        "hidden_sizes": (16, 16),
        "neuron_kwargs": {"v_th": 0.5},
    },
    "spiking_vgg_small": {"size": 16},
    # 16 tokens of 8 channels per head: Q Kᵀ V counts stay far below the paper's 0.5
    # attention threshold at T=2, so the tiny net fires its attention neuron earlier.
    "spikformer": {
        "size": 16,
        "input_size": 16,
        "embed_dim": 16,
        "depth": 1,
        "heads": 2,
        "neuron_kwargs": {"v_th": 0.5},
        "attn_v_th": 0.02,
    },
    "spiking_vgg11": {"size": 32, "width_mult": 0.25},
    "spiking_vgg16": {"size": 32, "width_mult": 0.25},
}
# Spikformer V2: the same tiny transformer as spikformer, behind the conv stem.
for _name in ("spikformer_v2", "spikformer_v2_tiny"):
    TINY[_name] = {**TINY["spikformer"], "embed_dim": 16, "heads": 2}
for _name in MODELS.names():
    if "resnet" in _name and not _name.startswith("ann_"):
        TINY[_name] = {"size": 16, "base_width": 8}

# Not neuron-injected spiking zoo nets (ANN twins, converted SNNs, the joint ANN/SNN
# model): each is tested in its own module.
OWN_TESTS = {
    "ann_csnn_tiny": "test_models_ann.py",
    "ann_vgg_small": "test_models_ann.py",
    "ann_resnet_small": "test_models_ann.py",
    "converted": "test_engine_pretrained.py",
    "joint_csnn": "test_models_joint.py",
    "equilibrium_snn": "test_models_equilibrium.py",  # IF only, implicit gradients
    "eprop_rsnn": "test_models_eprop_rsnn.py",  # e-prop's own LIF and readout
    "stdp_wta": "test_models_stdp_wta.py",  # WTA neurons, no gradients (STDP)
    "spikformer_v2_mae": "test_models_spikformer_v2_mae.py",  # pretraining: no classes
    "spikformer_v2_mae_tiny": "test_models_spikformer_v2_mae.py",
    "trevsnn_tiny": "test_models_trevsnn.py",  # stateless Q, not an injected neuron
    "trevsnn_small": "test_models_trevsnn.py",
    "trevsnn_cifar": "test_models_trevsnn.py",
}
ZOO = [name for name in MODELS.names() if name not in OWN_TESTS]


def test_create_builds_the_registered_factory_with_its_options():
    torch.manual_seed(0)
    model = create("csnn_tiny", num_classes=7, neuron="if")
    assert type(model) is type(MODELS.get("csnn_tiny")(num_classes=7))
    assert model(torch.rand(2, 1, 1, 8, 8)).shape == (2, 1, 7)
    assert any(type(m) is IF for m in model.modules())
    assert not any(type(m) is LIF for m in model.modules())
    assert type(create("CSNN_Tiny")) is type(model)  # names are case-insensitive
    with pytest.raises(ValueError, match="unknown model 'nope'; registered: .*csnn_tiny"):
        create("nope")
    with pytest.raises(TypeError):
        create(name="csnn_tiny")  # the name is positional-only: name= is no model option


def test_create_applies_the_output_options_the_factory_never_sees():
    # population and readout are create's (models/output.py), for every factory alike.
    torch.manual_seed(0)
    model = create("spiking_vgg_small", num_classes=2, population=3, readout="spiking")
    out = model(torch.rand(2, 1, 3, 16, 16))
    assert out.shape == (2, 1, 6) and set(out.unique().tolist()) <= {0.0, 1.0}
    assert (model.readout_kind, model.readout_population) == ("spikes", 3)


def test_every_registered_model_is_covered():
    here = Path(__file__).parent
    for name in MODELS.names():
        if name in OWN_TESTS:
            assert (here / OWN_TESTS[name]).is_file(), name
            assert name in (here / OWN_TESTS[name]).read_text(), name
        else:
            assert name in TINY, f"add tiny options for {name!r} to TINY"


def _case(name: str, neuron: str):
    # The 34-layer nets repeat the 18-layer blocks; one neuron keeps the fast suite fast.
    slow = name.endswith("34") and neuron != "lif"
    return pytest.param(name, neuron, marks=[pytest.mark.slow] if slow else [])


CASES = [_case(name, neuron) for name in ZOO for neuron in ("lif", "plif", "if")]


def _build(name: str, neuron: str = "lif", **extra):
    options = {**DEFAULT, **TINY[name], **extra}
    channels, size, drive = (options.pop(k) for k in ("in_channels", "size", "drive"))
    model = create(name, num_classes=NUM_CLASSES, in_channels=channels, neuron=neuron, **options)
    return model, (channels, size, drive)


@pytest.mark.parametrize(("name", "neuron"), CASES)
def test_forward_and_every_parameter_gets_gradient(name, neuron, generator):
    torch.manual_seed(0)  # model init
    model, (channels, size, drive) = _build(name, neuron, surrogate="atan")
    # Analog input (direct encoding), strong enough that the first neurons fire.
    x = drive * torch.rand(2, 2, channels, size, size, generator=generator)
    out = model(x)
    assert out.shape == (2, 2, NUM_CLASSES)
    assert torch.isfinite(out).all()
    out.mean(0).sum().backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, f"{name}/{neuron}: {pname} got no gradient"
        assert param.grad.abs().sum() > 0, f"{name}/{neuron}: {pname} has zero gradient"


@pytest.mark.parametrize("name", [n for n in ZOO if n != "csnn_tiny"])
def test_timm_like_interface_and_neuron_injection(name, generator):
    torch.manual_seed(0)
    model, (channels, size, drive) = _build(name, LIF, neuron_kwargs={"tau": 3.0})
    neurons = [m for m in model.modules() if isinstance(m, LIF)]
    assert neurons and all(type(m) is LIF and m.tau == 3.0 for m in neurons)
    x = drive * torch.rand(2, 3, channels, size, size, generator=generator)
    model.eval()
    features = model.forward_features(x)
    assert features.shape[:2] == (2, 3)
    assert torch.equal(model.forward_head(features), model(x))
    model.reset_classifier(7)
    assert model(x).shape == (2, 3, 7)
