"""Activity monitors: record per-layer firing rates of spiking neurons during a forward."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..neurons.base import SpikingNeuron
from ..neurons.readout import LI
from .spike_count import count_spikes


def unwrap_model(model: nn.Module) -> nn.Module:
    """The user's model inside ``DistributedDataParallel``/``DataParallel``/``torch.compile``.

    Layer names are the qualified names of ``unwrap_model(model).named_modules()``, so a
    layer is called the same in ``eval``'s JSON, ``energy``'s table and ``report``
    whether or not the run wrapped the model (no ``module.`` / ``_orig_mod.`` prefix).
    """
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel | nn.DataParallel):
            model = model.module
        elif type(model).__name__ == "OptimizedModule" and isinstance(
            getattr(model, "_orig_mod", None), nn.Module
        ):
            model = model._orig_mod
        else:
            return model


def spiking_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every spiking layer: the spiking neurons (non-spiking readouts
    excluded) and stateless spike functions that declare ``emits_spikes = True`` (e.g.
    T-RevSNN's ``Q``, called once per time step on ``[B, ...]``).

    ``name`` is the module's qualified name in ``model.named_modules()`` (of the model
    inside any DDP/compile wrapper, see :func:`unwrap_model`) — the one name a layer has
    in firing rates, activity reports and the ``inputs`` column of energy tables.
    """
    return [
        (name, m)
        for name, m in unwrap_model(model).named_modules()
        if (isinstance(m, SpikingNeuron) and not isinstance(m, LI))
        or getattr(m, "emits_spikes", False) is True
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
    i.e. the average probability that a neuron fires at a time step. Layers are keyed by
    their qualified module name (:func:`spiking_layers`): the trainer's ``firing_rates``
    (``metrics.jsonl``, ``spikeforge eval --json``) use these names.
    """

    def __init__(self, model: nn.Module) -> None:
        self.layers = spiking_layers(model)
        self._spikes: dict[str, float] = {name: 0.0 for name, _ in self.layers}
        self._counts: dict[str, int] = {name: 0 for name, _ in self.layers}

    def _hook(self, name: str):
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            out = output.detach()
            self._spikes[name] += count_spikes(out)
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
