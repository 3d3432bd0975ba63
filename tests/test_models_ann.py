import pytest
import torch
import torch.fx as fx
from torch import nn

from spikeforge.models import MODELS, create


@pytest.mark.parametrize("name", ["ann_csnn_tiny", "ann_vgg_small", "ann_resnet_small"])
def test_ann_twins_map_images_to_scores_and_trace(name):
    model = create(
        name,
        num_classes=7,
        in_channels=2,
        input_size=8,
        neuron="lif",
        surrogate="atan",
        neuron_kwargs={},
    )
    x = torch.rand(3, 2, 8, 8)
    assert model(x).shape == (3, 7)
    traced = fx.symbolic_trace(model)  # conversion relies on fx tracing
    model.eval()
    torch.testing.assert_close(traced.eval()(x), model(x))
    assert name in MODELS


def test_ann_options_batch_norm_bias_and_pool():
    plain = create("ann_csnn_tiny", batch_norm=False)
    convs = [m for m in plain.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None for c in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    normed = create("ann_csnn_tiny", bias=True)
    assert all(c.bias is not None for c in normed.modules() if isinstance(c, nn.Conv2d))
    maxed = create("ann_vgg_small", in_channels=1, pool="max", hidden_sizes=(8,), drop_rate=0.1)
    assert any(isinstance(m, nn.MaxPool2d) for m in maxed.modules())
    assert maxed(torch.rand(2, 1, 8, 8)).shape == (2, 10)


def test_ann_rejects_bad_options():
    with pytest.raises(ValueError, match="pool must be"):
        create("ann_csnn_tiny", pool="min")
    with pytest.raises(ValueError, match="input_size must be even"):
        create("ann_csnn_tiny", input_size=7)
    with pytest.raises(ValueError, match="in_channels"):
        create("ann_vgg_small", in_channels=0)
