import pytest
import torch
from torch import nn

from spikeforge.methods.conversion import fold_batch_norm
from spikeforge.methods.conversion.fold import fold_graph, fold_modules
from spikeforge.methods.conversion.trace import trace
from spikeforge.models import create


def _randomize_batch_norms(model: nn.Module, generator: torch.Generator) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=generator, dtype=m.running_mean.dtype))
            m.running_var.copy_(torch.rand(c, generator=generator, dtype=m.running_var.dtype) + 0.2)
            m.weight.data.copy_(torch.randn(c, generator=generator, dtype=m.weight.dtype))
            m.bias.data.copy_(torch.randn(c, generator=generator, dtype=m.bias.dtype))


@pytest.mark.parametrize(
    ("layer", "bn", "shape"),
    [
        (nn.Conv2d(3, 5, 3, padding=1, bias=False), nn.BatchNorm2d(5), (4, 3, 6, 6)),
        (nn.Conv2d(3, 5, 3, bias=True), nn.BatchNorm2d(5, affine=False), (4, 3, 6, 6)),
        (nn.Conv1d(2, 4, 3), nn.BatchNorm1d(4), (4, 2, 9)),
        (nn.Linear(6, 4), nn.BatchNorm1d(4), (8, 6)),
    ],
)
def test_folding_leaves_outputs_unchanged(layer, bn, shape, generator):
    layer, bn = layer.double(), bn.double()
    with torch.no_grad():
        bn.running_mean.copy_(
            torch.randn(bn.num_features, generator=generator, dtype=torch.float64)
        )
        bn.running_var.copy_(
            torch.rand(bn.num_features, generator=generator, dtype=torch.float64) + 0.1
        )
    bn.eval()
    x = torch.randn(*shape, generator=generator, dtype=torch.float64)
    folded = fold_batch_norm(layer, bn)
    torch.testing.assert_close(folded(x), bn(layer(x)), rtol=1e-12, atol=1e-12)
    assert folded is not layer and folded.bias is not None


@pytest.mark.parametrize("name", ["ann_csnn_tiny", "ann_vgg_small", "ann_resnet_small"])
def test_folding_a_whole_network_in_eval_mode_is_exact(name, generator):
    ann = create(name, in_channels=1, input_size=8).double()
    with torch.no_grad():
        _randomize_batch_norms(ann, generator)
    ann.eval()
    gm, reason = trace(ann)
    assert reason is None
    count = fold_graph(gm)
    assert count == sum(isinstance(m, nn.BatchNorm2d) for m in ann.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in gm.modules())
    x = torch.rand(6, 1, 8, 8, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(gm(x), ann(x), rtol=1e-10, atol=1e-10)


def test_module_walk_folds_neighbours_in_sequentials(generator):
    ann = create("ann_csnn_tiny").double()
    with torch.no_grad():
        _randomize_batch_norms(ann, generator)
    ann.eval()
    x = torch.rand(4, 1, 8, 8, generator=generator, dtype=torch.float64)
    expected = ann(x)
    assert fold_modules(ann) == 2
    torch.testing.assert_close(ann(x), expected, rtol=1e-10, atol=1e-10)


def test_fold_rejects_mismatches():
    with pytest.raises(TypeError, match="conv/linear, BatchNorm"):
        fold_batch_norm(nn.ReLU(), nn.BatchNorm2d(3))
    with pytest.raises(ValueError, match="4 features but the layer before it has 3"):
        fold_batch_norm(nn.Conv2d(1, 3, 1), nn.BatchNorm2d(4))
    with pytest.raises(ValueError, match="running statistics"):
        fold_batch_norm(nn.Conv2d(1, 3, 1), nn.BatchNorm2d(3, track_running_stats=False))
