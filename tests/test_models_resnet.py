import pytest
import torch

from spikeforge.layers import ThresholdDependentBatchNorm
from spikeforge.models import create
from spikeforge.models.resnet import RESIDUAL_ALPHA, BasicBlock, BlockConfig

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny nets: one thread is faster


def test_stem_follows_input_size_unless_named():
    assert create("spiking_resnet18", base_width=4, input_size=64).stem_type == "cifar"
    assert create("spiking_resnet18", base_width=4, input_size=65).stem_type == "imagenet"
    model = create("spiking_resnet18", base_width=4, input_size=224, stem="cifar")
    assert model.stem_type == "cifar" and not any(
        isinstance(m, torch.nn.MaxPool2d) for m in model.stem.modules()
    )
    with pytest.raises(ValueError, match="stem must be one of"):
        create("spiking_resnet18", stem="tiny")
    with pytest.raises(ValueError, match="base_width must be a positive int"):
        create("spiking_resnet18", base_width=0)


def test_stage_widths_and_feature_shape(generator):
    torch.manual_seed(0)
    model = create("spiking_resnet34", base_width=4, num_classes=3)
    depths = [len(getattr(model, f"layer{i}")) for i in range(1, 5)]
    assert depths == [3, 4, 6, 3]
    features = model.forward_features(torch.rand(2, 1, 3, 16, 16, generator=generator))
    assert features.shape == (2, 1, 32, 2, 2)
    # SN after the add: the block output is spikes.
    assert set(features.unique().tolist()) <= {0.0, 1.0}


def test_block_fires_after_the_add():
    # Zero the residual path's last conv: the neuron after the add sees only the
    # shortcut spikes and, as IF with V_th = 1 (fires at equality), re-emits them.
    cfg = BlockConfig("if", {"surrogate": "atan"})
    block = BasicBlock(4, 4, 1, cfg)
    block.conv2.layer[0].weight.data.zero_()
    block.eval()
    spikes = (torch.rand(3, 2, 4, 5, 5) > 0.5).float()
    assert torch.equal(block(spikes), spikes)


def test_tdbn_option_uses_residual_alpha():
    model = create("spiking_resnet18", base_width=4, norm="tdbn", neuron_kwargs={"v_th": 0.5})
    norms = [m for m in model.modules() if isinstance(m, ThresholdDependentBatchNorm)]
    assert norms and {m.v_th for m in norms} == {0.5}
    assert model.layer1[0].conv2[1].alpha == pytest.approx(RESIDUAL_ALPHA)
    assert model.layer1[0].conv1[1].alpha == 1.0
    out = model(torch.rand(2, 2, 3, 8, 8))
    assert out.shape == (2, 2, 10)


@pytest.mark.parametrize("size", [8, 224])
def test_resnet_input_sizes(size, generator):
    torch.manual_seed(0)
    base_width, batch, steps = (8, 2, 2) if size == 8 else (4, 1, 1)
    model = create("spiking_resnet18", num_classes=3, base_width=base_width, input_size=size)
    assert model.stem_type == ("cifar" if size == 8 else "imagenet")
    out = model(torch.rand(steps, batch, 3, size, size, generator=generator))
    assert out.shape == (steps, batch, 3) and torch.isfinite(out).all()


def test_stem_pool_off_moves_the_down_sampling_into_layer1(generator):
    torch.manual_seed(0)
    x = torch.rand(1, 1, 3, 96, 96, generator=generator)
    pooled = create("spiking_resnet18", base_width=4, stem="imagenet")
    strided = create("spiking_resnet18", base_width=4, stem="imagenet", stem_pool=False)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in strided.modules())
    assert strided.layer1[0].conv1.layer[0].stride == (2, 2)
    assert strided.layer1[0].downsample is not None  # same width, stride 2: projected
    assert strided.stem(x).shape == (1, 1, 4, 48, 48)
    assert pooled.stem(x).shape == (1, 1, 4, 24, 24)
    assert strided.forward_features(x).shape == pooled.forward_features(x).shape == (1, 1, 32, 3, 3)
    # No effect on the CIFAR stem, which never pools.
    cifar = create("spiking_resnet18", base_width=4, stem="cifar", stem_pool=False)
    assert cifar.layer1[0].conv1.layer[0].stride == (1, 1) and cifar.layer1[0].downsample is None
    with pytest.raises(TypeError, match="stem_pool must be True or False"):
        create("spiking_resnet18", stem_pool="no")
