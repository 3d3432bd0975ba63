import torch

from spikeforge.functional.spike import spike
from spikeforge.surrogates import Triangle


def test_spike_forward_dtype_shape_and_backward():
    x = torch.tensor([[-1.0, 0.0], [0.5, 2.0]], dtype=torch.float64, requires_grad=True)
    sur = Triangle(alpha=1.0, gamma=0.5)
    out = spike(x, sur)
    assert out.dtype == torch.float64 and out.shape == x.shape
    assert out.tolist() == [[0.0, 1.0], [1.0, 1.0]]
    out.backward(torch.full_like(x, 2.0))
    torch.testing.assert_close(x.grad, 2.0 * 0.5 * torch.clamp(1 - x.detach().abs(), min=0))
