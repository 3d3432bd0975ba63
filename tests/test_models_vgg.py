import pytest
import torch

from spikeforge.models import create


def test_five_ceil_pools_survive_8x8_and_widths_scale(generator):
    torch.manual_seed(0)
    model = create("spiking_vgg16", width_mult=0.125, num_classes=4)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 13 and convs[-1].out_channels == 64
    features = model.forward_features(torch.rand(2, 2, 3, 8, 8, generator=generator))
    assert features.shape == (2, 2, 64, 1, 1)
    assert (
        len([m for m in create("spiking_vgg11").modules() if isinstance(m, torch.nn.Conv2d)]) == 8
    )


def test_norm_off_hidden_classifier_and_bad_config():
    model = create("spiking_vgg_small", norm=False, hidden_sizes=(32,), drop_rate=0.1)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert all(m.bias is not None for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    x = torch.rand(2, 2, 3, 16, 16)
    assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (2, 2, 32)
    with pytest.raises(ValueError, match="width_mult must be > 0"):
        create("spiking_vgg11", width_mult=0)
