import pytest
import torch

from spikeforge.models import create
from spikeforge.models.ms_resnet import OFFICIAL_NEURON, VARIANTS, MSBlock, last_norm
from spikeforge.models.resnet import BlockConfig
from spikeforge.neurons import LIF

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny nets: one thread is faster


def _binary(t: torch.Tensor) -> bool:
    return set(t.unique().tolist()) <= {0.0, 1.0}


def test_shortcut_is_real_valued_and_convs_only_see_spikes(generator):
    torch.manual_seed(0)
    model = create("ms_resnet18", base_width=4)
    conv_inputs: list[torch.Tensor] = []
    hooks = [
        block.conv1.register_forward_hook(lambda m, i, o: conv_inputs.append(i[0]))
        for block in model.modules()
        if isinstance(block, MSBlock)
    ] + [
        block.conv2.register_forward_hook(lambda m, i, o: conv_inputs.append(i[0]))
        for block in model.modules()
        if isinstance(block, MSBlock)
    ]
    x = 2 * torch.rand(2, 2, 3, 16, 16, generator=generator)
    stream = model.stem(x)
    for name in ("layer1", "layer2", "layer3", "layer4"):
        stream = getattr(model, name)(stream)
        assert not _binary(stream), f"{name} output (the shortcut stream) should be real"
    for hook in hooks:
        hook.remove()
    assert len(conv_inputs) == 16 and all(_binary(t) for t in conv_inputs)
    # The extra SN before the classifier: features are spikes.
    assert _binary(model.forward_features(x))


def test_identity_shortcut_is_exact_when_the_residual_path_is_silent(generator):
    block = MSBlock(4, 4, 1, BlockConfig("lif", {"v_th": 1e6}))
    x = torch.randn(3, 2, 4, 6, 6, generator=generator) * 5
    assert torch.equal(block(x), x)  # real values pass untouched, no thresholding


def test_stem_has_no_neuron_and_options_are_fixed():
    model = create("ms_resnet34", base_width=4)
    assert not any(hasattr(m, "initial_state") for m in model.stem.modules())
    with pytest.raises(TypeError, match="MS-ResNet fixes 'final_neuron'"):
        create("ms_resnet18", final_neuron=False)


# --- variant="official": the authors' structure (METHODS §15) ---------------------------


def _stage_shapes(model, x):
    shapes = {"stem": tuple((stream := model.stem(x)).shape)}
    for name in ("layer1", "layer2", "layer3", "layer4"):
        stream = getattr(model, name)(stream)
        shapes[name] = tuple(stream.shape)
    return shapes


def _conv(module):
    return next(m for m in module.modules() if isinstance(m, torch.nn.Conv2d))


def test_official_imagenet_stem_has_no_pool_and_stage1_strides(generator):
    torch.manual_seed(0)
    x = torch.rand(1, 1, 3, 224, 224, generator=generator)
    official = create("ms_resnet18", variant="official", stem="imagenet", base_width=4)
    zoo = create("ms_resnet18", stem="imagenet", base_width=4)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in official.modules())
    assert any(isinstance(m, torch.nn.MaxPool2d) for m in zoo.stem.modules())
    stem = _conv(official.stem)
    assert (stem.kernel_size, stem.stride) == ((7, 7), (2, 2))
    # Conv7×7/2 -> tdBN, no max-pool: 112²; stage 1 stride 2 takes it to 56².
    assert _stage_shapes(official, x) == {
        "stem": (1, 1, 4, 112, 112),
        "layer1": (1, 1, 4, 56, 56),
        "layer2": (1, 1, 8, 28, 28),
        "layer3": (1, 1, 16, 14, 14),
        "layer4": (1, 1, 32, 7, 7),
    }
    # The zoo pools in the stem instead; from layer1 on the shapes agree.
    zoo_shapes = _stage_shapes(zoo, x)
    assert zoo_shapes["stem"] == (1, 1, 4, 56, 56)
    assert all(zoo_shapes[k] == v for k, v in _stage_shapes(official, x).items() if k != "stem")
    # The stride sits in the first 3×3 conv of each stage's first block (layer1 included)
    # and in its 1×1 projection shortcut; every other conv has stride 1.
    for name in ("layer1", "layer2", "layer3", "layer4"):
        first, *rest = getattr(official, name)
        assert _conv(first.conv1).stride == (2, 2) and _conv(first.conv2).stride == (1, 1)
        projection = _conv(first.downsample)
        assert (projection.kernel_size, projection.stride) == ((1, 1), (2, 2))
        assert all(_conv(b.conv1).stride == (1, 1) and b.downsample is None for b in rest)


def test_official_cifar_stem_is_the_zoos_and_checkpoints_are_interchangeable():
    # §15 gives only the ImageNet stem: on small images the official variant differs in
    # initialisation only, so state dicts load either way.
    zoo = create("ms_resnet18", base_width=4, input_size=32)
    official = create("ms_resnet18", variant="official", base_width=4, input_size=32)
    assert official.stem_type == "cifar" and _conv(official.layer1[0].conv1).stride == (1, 1)
    assert official.layer1[0].downsample is None
    official.load_state_dict(zoo.state_dict())  # strict: same keys and shapes


@pytest.mark.parametrize("neuron_kwargs", [OFFICIAL_NEURON, {}])
def test_official_bn_init_half_threshold_and_zero_last_bn(neuron_kwargs):
    model = create("ms_resnet34", variant="official", base_width=4, neuron_kwargs=neuron_kwargs)
    v_th = neuron_kwargs.get("v_th", 1.0)
    zeroed = {id(last_norm(b.conv2)) for b in model.modules() if isinstance(b, MSBlock)}
    assert len(zeroed) == 16  # one per residual path
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        expected = 0.0 if id(norm) in zeroed else v_th
        assert torch.equal(norm.weight, torch.full_like(norm.weight, expected))
        assert not norm.bias.any()
    # Stem and the conv1 / projection norms are the V_th-initialised ones (0.5 officially).
    assert len(norms) - len(zeroed) == 1 + 16 + 3


@pytest.mark.parametrize(("in_channels", "stride"), [(4, 1), (4, 2), (2, 1)])
@pytest.mark.parametrize("train", [True, False])
def test_block_with_last_bn_at_zero_returns_its_shortcut_exactly(
    in_channels, stride, train, generator
):
    torch.manual_seed(0)
    block = MSBlock(in_channels, 4, stride, BlockConfig("lif", dict(OFFICIAL_NEURON)), True)
    block.train(train)
    x = torch.randn(3, 2, in_channels, 6, 6, generator=generator) * 3
    assert block.residual(x).abs().sum() == 0
    assert torch.equal(block(x), block.shortcut(x))
    if block.downsample is None:
        assert torch.equal(block(x), x)  # the residual path starts as the identity


@pytest.mark.parametrize("norm", ["bn", "tdbn"])
def test_official_network_starts_as_its_shortcuts(norm, generator):
    torch.manual_seed(0)
    model = create("ms_resnet18", variant="official", stem="imagenet", base_width=4, norm=norm)
    seen = []

    def check(block, inputs, output):
        seen.append(torch.equal(output, block.shortcut(inputs[0])))

    for block in model.modules():
        if isinstance(block, MSBlock):
            block.register_forward_hook(check)
    model(torch.rand(2, 2, 3, 64, 64, generator=generator))
    assert seen == [True] * 8


def test_official_residual_convs_learn_after_their_bn_does(generator):
    # Why "official" is a variant, not the default: with the last BN at 0 the conv before
    # it gets no gradient at the first step (only its BN weight does), against the zoo
    # contract that every parameter learns from the first step on.
    torch.manual_seed(0)
    model = create("ms_resnet18", variant="official", base_width=4, num_classes=3)
    model(2 * torch.rand(2, 2, 3, 16, 16, generator=generator)).mean(0).sum().backward()
    block = model.layer2[1]
    assert _conv(block.conv2).weight.grad.abs().sum() == 0
    assert last_norm(block.conv2).weight.grad.abs().sum() > 0


def test_official_neuron_is_the_authors_recurrence(generator):
    # u[t] = 0.25·u[t−1]·(1 − s[t−1]) + x[t], s = 1[u ≥ 0.5] (float64 reference).
    x = torch.rand(12, 3, 50, generator=generator, dtype=torch.float64)
    u = torch.zeros(3, 50, dtype=torch.float64)
    s = torch.zeros_like(u)
    expected = []
    for t in range(12):
        u = 0.25 * u * (1 - s) + x[t]
        s = (u >= 0.5).to(u.dtype)
        expected.append(s)
    spikes = LIF(**OFFICIAL_NEURON)(x.float())
    assert torch.equal(spikes, torch.stack(expected).float())
    assert 0 < spikes.mean() < 1
    # Rectangle surrogate of width 1 around V_th: dS/du = 1[|u − 0.5| < 0.5].
    assert LIF(**OFFICIAL_NEURON).surrogate.derivative(torch.tensor([0.0, 0.49, 0.5])).tolist() == [
        1.0,
        1.0,
        0.0,
    ]


def test_parameter_counts_against_torchvision_resnets():
    # §15 quotes no parameter counts. The zoo's ImageNet MS-ResNet has exactly
    # torchvision's ResNet-18/34 layers (11,689,512 / 21,797,672 parameters); the
    # official one adds only layer1[0]'s 1×1 projection + BN (64·64 + 2·64 = 4,224).
    with torch.device("meta"):
        for name, zoo_count in (("ms_resnet18", 11_689_512), ("ms_resnet34", 21_797_672)):
            counts = {
                variant: sum(
                    p.numel()
                    for p in create(
                        name, variant=variant, stem="imagenet", num_classes=1000
                    ).parameters()
                )
                for variant in VARIANTS
            }
            assert counts == {"zoo": zoo_count, "official": zoo_count + 4_224}


def test_variant_is_checked():
    with pytest.raises(ValueError, match="variant must be one of"):
        create("ms_resnet18", variant="paper")
    with pytest.raises(TypeError, match="no stem max-pool"):
        create("ms_resnet18", variant="official", stem_pool=True)
