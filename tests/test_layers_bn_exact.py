"""Batch norm's training output reproduced exactly: the fused neuron's affine (checked
against batch norm's own output) and the eval-mode scale search."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.kernels.cpu import _build
from spikeforge.kernels.cpu import lif as cpu_lif
from spikeforge.layers import bn_exact, compact_activations, fold
from spikeforge.neurons import LIF


@pytest.fixture(autouse=True)
def _needs_kernel() -> None:
    reason = _build.unavailable_reason()
    if reason is not None:
        pytest.skip(f"fused CPU kernel unavailable: {reason}")


def _bn_output(bn: nn.Module, shape: tuple[int, ...], dtype=torch.float32):
    torch.manual_seed(0)
    bn = bn.to(dtype).train()
    if bn.weight is not None:
        with torch.no_grad():
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-1, 1)
    c = (torch.randn(shape, dtype=dtype) * 3 + 1).requires_grad_()
    return bn, c, bn(c)


@pytest.mark.parametrize(
    ("bn", "shape"),
    [
        (nn.BatchNorm2d(6), (8, 6, 5, 7)),
        (nn.BatchNorm1d(6), (40, 6)),
        (nn.BatchNorm1d(6), (10, 6, 9)),
        (nn.BatchNorm2d(6, affine=False), (8, 6, 5, 7)),
        (nn.BatchNorm2d(6, track_running_stats=False), (8, 6, 5, 7)),
    ],
    ids=["2d", "1d [N, C]", "1d [N, C, L]", "no affine", "no running stats"],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_the_kernel_affine_rebuilds_the_training_output_bit_for_bit(bn, shape, dtype):
    """On this machine's torch the fused multiply-add is batch norm's own arithmetic: the
    resolved affine gives the output exactly (the check :func:`neuron_affine` makes)."""
    bn, c, y = _bn_output(bn, shape, dtype)
    x = y.view(2, -1, *shape[1:])  # the neuron sees [T, B, ...]
    src = bn_exact.neuron_affine(bn, y, c, x)
    assert src is not None
    assert src.channels == 6 and src.inner == (y[0, 0].numel())
    assert torch.equal(cpu_lif.bn_affine(src), y.detach().reshape(-1))


def test_no_affine_where_the_output_is_not_a_training_batch_norm_output():
    bn, c, y = _bn_output(nn.BatchNorm2d(6), (8, 6, 5, 7))
    assert bn_exact.neuron_affine(bn, y, c, y[:4]) is None  # part of it
    assert bn_exact.neuron_affine(bn, y, c, y.transpose(2, 3)) is None  # not contiguous
    bn.eval()
    y_eval = bn(c)  # running statistics: no batch mean / 1/std on the node
    assert bn_exact.neuron_affine(bn, y_eval, c, y_eval) is None

    class Scaled(nn.BatchNorm2d):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x) * 2

    bn, c, y = _bn_output(Scaled(6), (8, 6, 5, 7))
    assert bn_exact.neuron_affine(bn, y, c, y) is None  # its own forward: not ATen's affine


def test_a_kernel_affine_that_differs_is_never_used_and_training_stays_exact(monkeypatch):
    """If the kernel's arithmetic differed from batch norm's (another torch build), the
    first check says so, the module is not fused, and ``compact_activations`` recomputes
    batch norm's output instead: the gradients stay bit-identical."""

    def net() -> nn.Module:
        torch.manual_seed(2)
        return nn.Sequential(
            fold(nn.Conv2d(2, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)), LIF()
        ).train()

    x = torch.rand(3, 4, 2, 8, 8)

    def step(model: nn.Module, **options) -> tuple[list[torch.Tensor], object]:
        stats = None
        if options.get("context", True):
            with compact_activations(model) as stats:
                out = model(x)
        else:
            out = model(x)
        (out * torch.arange(out.numel()).view_as(out)).sum().backward()
        return [p.grad for p in model.parameters()], stats

    ref, _ = step(net(), context=False)
    got, stats = step(net())
    assert stats.bn_fused == 1 and stats.bn_recomputed == 0
    assert all(torch.equal(a, b) for a, b in zip(got, ref, strict=True))
    exact = cpu_lif.bn_coefficients

    def one_ulp_off(*args):
        alpha, beta = exact(*args)
        return torch.nextafter(alpha, torch.full_like(alpha, 9.0)), beta

    monkeypatch.setattr(cpu_lif, "bn_coefficients", one_ulp_off)
    model = net()
    got, stats = step(model)
    assert stats.bn_fused == 0 and stats.bn_recomputed == 1
    assert all(torch.equal(a, b) for a, b in zip(got, ref, strict=True))
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert list(bn_exact._AFFINE_VERIFIED[bn].values()) == [False]


def test_matching_scale_reproduces_the_training_scale_exactly():
    """Per channel, eval-mode batch norm with the chosen ``(var', w')`` has exactly the
    scale ``invstd · w`` of training mode (checked on an input of ones: output = scale),
    including variances near ``eps`` where many ``1/std`` values are unreachable; the
    channels without a match (rare) are flagged."""
    g = torch.Generator().manual_seed(5)
    for dtype in (torch.float32, torch.float64):
        var = torch.cat([torch.rand(300, generator=g) * 1e-3, torch.rand(300, generator=g) * 5])
        invstd = (1.0 / torch.sqrt(var.double() + 1e-5)).to(dtype)  # as training rounds it
        for weight in (None, torch.randn(600, generator=g).to(dtype)):
            var_, w_, found = bn_exact.matching_scale(invstd, 1e-5, weight)
            assert int(found.sum()) >= 597
            ones = torch.ones(1, 600, dtype=dtype)
            zero = torch.zeros(600, dtype=dtype)
            alpha = nn.functional.batch_norm(ones, zero, var_, w_, None, False, 0.0, 1e-5)[0]
            target = invstd if weight is None else invstd * weight
            assert torch.equal(alpha == target, found)
