import pytest
import torch
from torch import nn

from spikeforge.layers import TimeFold, fold


def test_fold_equals_applying_the_layer_at_every_step(generator):
    conv = nn.Conv2d(2, 4, 3, padding=1)
    x = torch.randn(5, 3, 2, 6, 6, generator=generator)
    out = fold(conv)(x)
    expected = torch.stack([conv(x_t) for x_t in x])
    torch.testing.assert_close(out, expected)


def test_chained_layers_and_shape_change(generator):
    layer = fold(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4 * 2 * 2, 3))
    assert layer(torch.randn(4, 2, 4, 4, 4, generator=generator)).shape == (4, 2, 3)


def test_batchnorm_statistics_pool_time_and_batch(generator):
    bn = fold(nn.BatchNorm1d(3))
    x = torch.randn(6, 8, 3, generator=generator) * 4 + 2
    y = bn(x)
    torch.testing.assert_close(y.mean(dim=(0, 1)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(bn.layer.running_mean, 0.1 * x.mean(dim=(0, 1)), atol=1e-5, rtol=0)


def test_errors():
    with pytest.raises(TypeError, match="wraps an nn.Module"):
        TimeFold(lambda x: x)
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        fold(nn.ReLU())(torch.zeros(3))
    with pytest.raises(ValueError, match="at least one layer"):
        fold()
