import pytest
import torch

from spikeforge.layers import ThresholdDependentBatchNorm


def test_training_output_has_zero_mean_and_std_alpha_vth(generator):
    bn = ThresholdDependentBatchNorm(3, alpha=0.5, v_th=2.0)
    x = torch.randn(4, 6, 3, 5, 5, generator=generator) * 3 + 1
    y = bn(x)
    dims = (0, 1, 3, 4)
    torch.testing.assert_close(y.mean(dims), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std(dims, unbiased=False), torch.ones(3), atol=1e-4, rtol=0)
    y = ThresholdDependentBatchNorm(3, alpha=1.0, v_th=2.0)(x)
    torch.testing.assert_close(
        y.std(dims, unbiased=False), torch.full((3,), 2.0), atol=1e-4, rtol=0
    )


def test_eval_uses_running_statistics_and_affine(generator):
    bn = ThresholdDependentBatchNorm(2, alpha=1.0, v_th=1.0, momentum=1.0)
    x = torch.randn(3, 4, 2, generator=generator) * 2 + 5
    bn(x)
    bn.eval()
    with torch.no_grad():
        bn.weight.fill_(2.0)
        bn.bias.fill_(1.0)
    mean = x.mean(dim=(0, 1))
    var = x.var(dim=(0, 1), unbiased=True)
    expected = 2.0 * (x - mean) / torch.sqrt(var + bn.eps) + 1.0
    torch.testing.assert_close(bn(x), expected, atol=1e-5, rtol=1e-5)


def test_errors():
    bn = ThresholdDependentBatchNorm(3)
    with pytest.raises(ValueError, match="expects 3 channels at dim 2"):
        bn(torch.zeros(2, 4, 5, 6))
    with pytest.raises(ValueError, match="alpha must be > 0"):
        ThresholdDependentBatchNorm(3, alpha=0.0)
