"""The output contract of a model (``models/output.py``): every registered model declares
what its outputs are, and ``population`` / ``readout`` are applied by ``create`` for any
model (the factory never sees them)."""

import pytest
import torch
from torch import nn

from spikeforge.encoding import READOUT_KINDS
from spikeforge.methods.online import StepwiseRunner
from spikeforge.models import MODELS, create
from spikeforge.models.output import (
    configure_readout,
    declare_readout,
    population_outputs,
    readout_classes,
    readout_kind,
    readout_population,
)
from spikeforge.neurons import IF, LIF

ANNS = {"ann_csnn_tiny", "ann_resnet_small", "ann_vgg_small"}
PRETRAINING = {"spikformer_v2_mae", "spikformer_v2_mae_tiny"}  # masked-image models


@pytest.mark.parametrize("name", MODELS.names())
def test_every_registered_model_declares_its_readout(name):
    torch.manual_seed(0)
    kind = readout_kind(create(name, num_classes=4))
    if name in PRETRAINING:  # reconstructs pixels: no class outputs to declare
        assert kind is None
        return
    assert kind in READOUT_KINDS
    # The zoo's SNNs end in an analog (linear/LI) readout; the ANN twins give scores.
    assert kind == ("analog" if name in ANNS else "membrane")


def test_population_asks_the_factory_for_p_outputs_per_class():
    torch.manual_seed(0)
    model = create("csnn_tiny", num_classes=3, population=4)
    assert model(torch.rand(2, 5, 1, 8, 8)).shape == (2, 5, 12)
    assert (readout_population(model), readout_classes(model)) == (4, 3)
    plain = create("csnn_tiny", num_classes=3)
    assert readout_population(plain) is None and readout_classes(plain) is None
    assert population_outputs(10, 3) == 30
    with pytest.raises(ValueError, match="population=4 needs num_classes"):
        create("csnn_tiny", population=4)
    with pytest.raises(ValueError, match="population"):
        create("csnn_tiny", num_classes=3, population=0)


def test_a_spiking_readout_is_appended_to_a_sequential():
    torch.manual_seed(0)
    model = create("csnn_tiny", num_classes=3, neuron="if", readout="spiking")
    assert type(model[-1]) is IF and readout_kind(model) == "spikes"
    x = 3 * torch.rand(4, 6, 1, 8, 8)
    out = model(x)
    assert out.shape == (4, 6, 3) and set(out.unique().tolist()) <= {0.0, 1.0}
    out.sum().backward()
    classifier = model[-2].layer[-1]  # the folded Linear before the spiking readout
    assert classifier.weight.grad is not None and classifier.weight.grad.abs().sum() > 0


def test_a_spiking_readout_hooks_a_model_without_renaming_its_parameters():
    torch.manual_seed(0)
    plain = create("spiking_mlp", num_classes=3, input_size=4, hidden_sizes=(8,))
    torch.manual_seed(0)
    model = create(
        "spiking_mlp",
        num_classes=3,
        input_size=4,
        hidden_sizes=(8,),
        readout="spiking",
        population=2,
        neuron_kwargs={"v_th": 0.5},
    )
    assert type(model.readout_neuron) is LIF and model.readout_neuron.v_th == 0.5
    assert set(plain.state_dict()) <= set(model.state_dict())
    x = 2 * torch.rand(5, 3, 1, 4, 4)
    model.eval()
    out = model(x)
    assert out.shape == (5, 3, 6) and set(out.unique().tolist()) <= {0.0, 1.0}
    # The hook's neuron is a neuron of the model: step-by-step training carries its state.
    with torch.no_grad():
        head = model.forward_head(model.forward_features(x))  # the analog readout
        assert torch.equal(model.readout_neuron(head), out)
        with StepwiseRunner(model) as runner:
            steps = []
            for t in range(5):
                runner.begin_step()
                steps.append(model(x[t : t + 1]))
    assert torch.equal(torch.cat(steps), out)


def test_readout_options_that_cannot_apply_are_refused():
    with pytest.raises(ValueError, match="ann_csnn_tiny is an ANN.*readout=spiking"):
        create("ann_csnn_tiny", num_classes=3, readout="spiking")
    assert readout_kind(create("ann_csnn_tiny", num_classes=3, readout="membrane")) == "analog"
    with pytest.raises(ValueError, match="readout must be one of"):
        create("csnn_tiny", num_classes=3, readout="phase")
    spiking = declare_readout(nn.Sequential(nn.Identity()), "spikes")
    with pytest.raises(ValueError, match="outputs are spikes already"):
        configure_readout(spiking, "net", readout="membrane")
    assert configure_readout(spiking, "net", readout="spiking") is spiking
    assert len(spiking) == 1  # already spiking: nothing appended
    with pytest.raises(ValueError, match="readout kind must be one of"):
        declare_readout(nn.Identity(), "rates")
    assert readout_kind(nn.Identity()) is None  # hand-built modules are undeclared
