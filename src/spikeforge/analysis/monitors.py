"""Activity monitors: record per-layer firing rates of spiking neurons during a forward."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..neurons.base import SpikingNeuron
from ..neurons.readout import LI


def spiking_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every spiking neuron layer (non-spiking readouts excluded)."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, SpikingNeuron) and not isinstance(m, LI)
    ]


@contextmanager
def forward_hooks(
    layers: list[tuple[str, nn.Module]], make_hook: Callable[[str], Callable[..., None]]
) -> Iterator[None]:
    """Attach ``make_hook(name)`` as a forward hook of each ``(name, module)``; always detach."""
    handles = [module.register_forward_hook(make_hook(name)) for name, module in layers]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class FiringRateMonitor:
    """Accumulates the mean firing rate of every spiking layer over recorded batches.

    Rate of a layer = spikes summed over time, batch and neurons / (T · B · neurons),
    i.e. the average probability that a neuron fires at a time step.
    """

    def __init__(self, model: nn.Module) -> None:
        self.layers = spiking_layers(model)
        self._spikes: dict[str, float] = {name: 0.0 for name, _ in self.layers}
        self._counts: dict[str, int] = {name: 0 for name, _ in self.layers}

    def _hook(self, name: str):
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            out = output.detach()
            self._spikes[name] += float((out != 0).sum())
            self._counts[name] += out.numel()

        return record

    @contextmanager
    def record(self) -> Iterator[FiringRateMonitor]:
        """Within this context every forward of a spiking layer is recorded."""
        with forward_hooks(self.layers, self._hook):
            yield self

    def rates(self) -> dict[str, float]:
        """Mean firing rate per layer name (NaN for a layer never run)."""
        return {
            name: (self._spikes[name] / self._counts[name]) if self._counts[name] else float("nan")
            for name, _ in self.layers
        }
