r"""The converted network: ``[T, B, ...]`` -> ``[T, B, num_classes]`` like every SNN.

The body is the ANN's (folded, rewritten) graph run with time folded into the batch;
its :class:`~.neurons.ConvertedIF` sites unfold time. The last layer (a linear/conv with
no ReLU after it) is not spiking: its per-step output current ``z[t]`` is what the model
returns, and its membrane ``V[t] = Σ_{k≤t} z[k]`` (an ``LI(tau=None)`` accumulator,
:meth:`ConvertedSNN.membrane`) is the readout — so ``output.mean(0) = V[T]/T`` and the
Trainer's evaluation (``argmax`` of the mean over T) is exactly "argmax of the
accumulated membrane".
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..._validation import check_sequence
from ...neurons import LI
from .neurons import ANALOG, SPIKING, ConvertedIF, TimeContext, _TimeAware


class ConvertedSNN(nn.Module):
    """A converted network around ``body`` (maps ``[N, ...]`` -> ``[N, C]``).

    Args:
        body: the rewritten ANN (an ``fx.GraphModule`` or, for untraceable models, the
            module-walked copy) containing ConvertedIF / SpikingMaxPool modules.
        info: conversion metadata (recipe, tracing path, thresholds ...), for reports.
    """

    readout_kind = "membrane"  # outputs: the accumulated output membrane per step

    readout_kind = "membrane"  # outputs: the LI readout's membrane (see models/output.py)

    def __init__(self, body: nn.Module, info: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.body = body
        self.context = TimeContext()
        self.info = dict(info or {})
        self.readout = LI(tau=None)
        for name, module in self.body.named_modules():
            if isinstance(module, _TimeAware):
                module.context = self.context
                module.site = name

    def neurons(self) -> dict[str, ConvertedIF]:
        """The converted IF layers by name (body path)."""
        return {n: m for n, m in self.body.named_modules() if isinstance(m, ConvertedIF)}

    def thresholds(self) -> dict[str, torch.Tensor]:
        """``V_th = λ`` of every converted layer."""
        return {name: m.scale.detach().clone() for name, m in self.neurons().items()}

    def run(self, x: torch.Tensor, state: dict[str, Any] | None = None) -> tuple[torch.Tensor, Any]:
        """``x`` ``[T, B, ...]`` -> ``(z [T, B, C], state)``; pass ``state`` on to stream."""
        return self._call(x, state, streaming=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, ...]`` -> per-step output currents ``[T, B, num_classes]`` (from rest)."""
        return self._call(x, None, streaming=False)[0]

    def _call(
        self, x: torch.Tensor, state: dict[str, Any] | None, streaming: bool
    ) -> tuple[torch.Tensor, Any]:
        check_sequence(x, "ConvertedSNN input", min_dim=3)
        sample_dims = self.info.get("sample_dims")
        if sample_dims is not None and x.dim() != sample_dims + 2:
            raise ValueError(
                f"ConvertedSNN input must be [T, B, ...] with {sample_dims + 2} dims (the ANN "
                f"took [B, ...] with {sample_dims + 1}), got shape {tuple(x.shape)}"
            )
        steps, batch = x.shape[:2]
        ctx = self.context
        ctx.mode, ctx.steps, ctx.streaming = SPIKING, steps, streaming
        ctx.states_in, ctx.states_out = dict(state or {}), {}
        try:
            out = self.body(x.flatten(0, 1))
        finally:
            final, ctx.states_in, ctx.states_out = ctx.states_out, {}, {}
            ctx.streaming = False
        return out.unflatten(0, (steps, batch)), final

    def membrane(self, x: torch.Tensor) -> torch.Tensor:
        """Accumulated output membrane ``V[t]`` ``[T, B, C]`` (``LI(tau=None)`` readout)."""
        return self.readout(self(x))

    def analog(self, x: torch.Tensor) -> torch.Tensor:
        """Run as the (folded, pool-converted) ANN: every neuron acts as a ReLU.

        ``x`` ``[N, ...]`` -> ``[N, C]``. Used for calibration and to check conversion.
        """
        ctx = self.context
        previous = ctx.mode
        ctx.mode = ANALOG
        try:
            return self.body(x)
        finally:
            ctx.mode = previous

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.info.items() if not isinstance(v, dict))
