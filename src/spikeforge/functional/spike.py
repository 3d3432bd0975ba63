"""The spike nonlinearity: Heaviside forward, surrogate derivative backward."""

from __future__ import annotations

from typing import Any

import torch

from ..surrogates import Surrogate


class _SpikeFunction(torch.autograd.Function):
    """S = Θ(x) (fires at x >= 0); dS/dx := surrogate.derivative(x)."""

    @staticmethod
    def forward(x: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
        return (x >= 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, surrogate = inputs
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.derivative(x), None


def spike(x: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
    """Spikes ``Θ(x)`` of any shape, with gradient ``surrogate.derivative(x)``.

    Args:
        x: membrane minus threshold, any shape.
        surrogate: the :class:`~spikeforge.surrogates.Surrogate` used in backward.

    Returns:
        Tensor of 0/1 in ``x``'s dtype and shape.
    """
    return _SpikeFunction.apply(x, surrogate)
