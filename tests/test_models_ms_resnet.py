import pytest
import torch

from spikeforge.models import create
from spikeforge.models.ms_resnet import MSBlock
from spikeforge.models.resnet import BlockConfig


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
