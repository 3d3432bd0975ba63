import pytest
import torch

from spikeforge.layers import SynAGate
from spikeforge.models import create
from spikeforge.models.or_resnet import ORBlock
from spikeforge.models.resnet import BlockConfig


def _binary(t: torch.Tensor) -> bool:
    return set(t.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("name", ["or_resnet18", "syna_resnet18"])
def test_every_block_output_stays_binary(name, generator):
    torch.manual_seed(0)
    model = create(name, base_width=8)
    outputs: list[torch.Tensor] = []
    for module in model.modules():
        if isinstance(module, ORBlock):
            module.register_forward_hook(lambda m, i, o: outputs.append(o))
    model(2 * torch.rand(2, 2, 3, 16, 16, generator=generator))
    assert len(outputs) == 8 and all(_binary(o) for o in outputs)


def test_syna_option_places_promotion_and_inhibition_gates():
    plain = create("or_resnet18", base_width=8)
    assert not any(isinstance(m, SynAGate) for m in plain.modules())
    model = create("or_resnet18", base_width=8, syna=True)
    identity, projected = model.layer1[0], model.layer2[0]
    assert identity.promote.mode == "promote" and identity.inhibit.mode == "inhibit"
    assert projected.promote.mode == "promote"
    assert projected.downsample[1].mode == "inhibit"  # before the projection's SN


def test_closed_inhibition_gate_prunes_the_shortcut(generator):
    # "Natural pruning": with the shortcut gate shut the block is its residual path.
    block = ORBlock(4, 4, 1, BlockConfig("lif", {}), syna=True)
    with torch.no_grad():
        block.inhibit.open_bias.fill_(-100.0)
    spikes = (torch.rand(2, 2, 4, 6, 6, generator=generator) > 0.5).float()
    assert not block.shortcut(spikes).any()
    assert torch.equal(block(spikes), block.residual(spikes))


def test_time_axis_variant_is_tied_to_num_steps(generator):
    torch.manual_seed(0)
    model = create("syna_resnet18", base_width=8, syna_axis="time", num_steps=3, num_classes=4)
    x = 2 * torch.rand(3, 2, 3, 16, 16, generator=generator)
    assert model(x).shape == (3, 2, 4)
    with pytest.raises(ValueError, match="built for T=3 steps, got T=2"):
        model(x[:2])
