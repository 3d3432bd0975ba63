import pytest
import torch

from spikeforge.models import create
from spikeforge.neurons import RLIF


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


def test_rlif_layers_get_recurrent_weights_of_their_own_width(generator):
    model = create("spiking_mlp", in_features=12, hidden_sizes=(8, 5), neuron="rlif")
    rlif = [m for m in model.modules() if isinstance(m, RLIF)]
    assert [tuple(m.recurrent_weight.shape) for m in rlif] == [(8,), (5,)]
    out = model(torch.rand(4, 2, 12, generator=generator) * 3)
    assert out.shape == (4, 2, 10)
    out.sum().backward()
    assert all(m.recurrent_weight.grad is not None for m in rlif)
    with pytest.raises(ValueError, match="features=8 conflicts with a layer 5 wide"):
        create("spiking_mlp", in_features=12, hidden_sizes=(8, 5), neuron="rlif",
               neuron_kwargs={"features": 8})  # fmt: skip
