import pytest
import torch

from spikeforge.models import MODELS, create
from spikeforge.neurons import ALIF, LIF

NEURONS = ["lif", "plif", "if", "alif", "cuba"]


@pytest.mark.parametrize("neuron", NEURONS)
def test_forward_shape_no_nan_and_every_parameter_gets_gradient(neuron, generator):
    model = create("csnn_tiny", num_classes=10, in_channels=1, input_size=8, neuron=neuron)
    x = torch.rand(3, 4, 1, 8, 8, generator=generator) * 2
    out = model(x)
    assert out.shape == (3, 4, 10)
    assert torch.isfinite(out).all()
    out.mean(0).sum().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_neuron_injection_by_class_and_kwargs():
    model = create("csnn_tiny", neuron=ALIF, neuron_kwargs={"b": 0.1}, surrogate="sigmoid")
    neurons = [m for m in model.modules() if isinstance(m, LIF)]
    assert len(neurons) == 2 and all(isinstance(m, ALIF) and m.b == 0.1 for m in neurons)
    assert "csnn_tiny" in MODELS.names()
    with pytest.raises(ValueError, match="input_size must be even"):
        create("csnn_tiny", input_size=7)
