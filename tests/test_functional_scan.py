import torch

from spikeforge.functional.scan import scan


def test_scan_threads_state_and_stacks_outputs():
    x = torch.arange(1.0, 5.0).view(4, 1)
    outs, total = scan(lambda x_t, acc: (acc + x_t, acc + x_t), x, torch.zeros(1))
    assert outs.flatten().tolist() == [1.0, 3.0, 6.0, 10.0]
    assert total.item() == 10.0


def test_scan_backward_is_linear_in_steps_not_quadratic():
    # unbind-based loops produce one gradient buffer per step; x[t] indexing would
    # give every step a full [T, ...] zero gradient. Check gradients are exact.
    x = torch.randn(50, 3, requires_grad=True)
    outs, _ = scan(lambda x_t, s: (x_t * 2, s), x, None)
    outs.sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 2.0))
