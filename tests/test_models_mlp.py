import pytest
import torch

from spikeforge.models import create


def test_flattens_any_trailing_shape(generator):
    model = create("spiking_mlp", in_features=12, hidden_sizes=(8, 8), num_classes=3)
    x = torch.rand(4, 2, 3, 2, 2, generator=generator)
    assert model(x).shape == (4, 2, 3)
    assert model(x.flatten(2)).shape == (4, 2, 3)  # [T, B, features] works too
    assert model.forward_features(x).shape == (4, 2, 8)


def test_in_features_from_image_shape_and_errors():
    model = create("spiking_mlp", in_channels=2, input_size=(4, 6), norm=False)
    assert model.in_features == 48
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules())
    with pytest.raises(ValueError, match="expects 48 features.*got 32"):
        model(torch.zeros(1, 1, 2, 4, 4))
    with pytest.raises(ValueError, match="hidden_sizes must be positive ints"):
        create("spiking_mlp", hidden_sizes=())
