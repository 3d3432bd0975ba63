import pytest
import torch

from spikeforge.models import create
from spikeforge.models.resnet import BlockConfig
from spikeforge.models.sew_resnet import SEWBlock

SILENT = BlockConfig("lif", {"v_th": 1e6})  # the residual path never fires: A = 0


def _spikes(generator, channels=4):
    return (torch.rand(3, 2, channels, 6, 6, generator=generator) > 0.5).float()


@pytest.mark.parametrize(("connect", "identity"), [("add", True), ("iand", True), ("and", False)])
def test_silent_residual_path(connect, identity, generator):
    # With A = 0, ADD and IAND pass the shortcut through unchanged (the identity mapping
    # SEW is built to express); AND blocks it.
    block = SEWBlock(4, 4, 1, SILENT, connect=connect)
    spikes = _spikes(generator)
    out = block(spikes)
    assert torch.equal(out, spikes) if identity else not out.any()


def test_iand_with_firing_residual_masks_the_shortcut(generator):
    block = SEWBlock(4, 4, 1, BlockConfig("if", {"v_th": 0.01}), connect="iand")
    spikes = _spikes(generator)
    a = block.residual(spikes)
    assert torch.equal(block(spikes), (1 - a) * spikes)


def test_downsample_shortcut_is_spiking_and_outputs_match_connect(generator):
    torch.manual_seed(0)
    x = 2 * torch.rand(2, 2, 3, 16, 16, generator=generator)
    for connect in ("and", "iand"):
        features = create("sew_resnet18", base_width=4, connect=connect).forward_features(x)
        assert set(features.unique().tolist()) <= {0.0, 1.0}
    features = create("sew_resnet18", base_width=4, connect="add").forward_features(x)
    assert features.max() > 1  # ADD accumulates spikes over blocks: counts, not bits
    block = SEWBlock(4, 8, 2, BlockConfig("lif", {}))
    assert block.downsample is not None and len(block.downsample) == 2
    with pytest.raises(ValueError, match="connect must be one of"):
        create("sew_resnet34", connect="or")
