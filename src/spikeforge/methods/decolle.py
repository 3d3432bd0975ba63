"""DECOLLE-style local learning (Kaiser, Mostafa & Neftci, Frontiers 2020): ``"decolle"``.

Every spiking layer learns from its own loss: a fixed random linear readout ``G_l`` of its
spikes, scored by the per-step objective against the label, and no gradient crosses from
one layer into the one before (each neuron's output is passed on detached). Training runs
step by step as OTTT does (:mod:`.ottt`): temporal state detached, presynaptic traces in
the synaptic weight gradients — the role DECOLLE's synaptic traces play — so memory does
not grow with T. The model's own output keeps its loss too (it trains the classifier);
when the model's output is a neuron's output (an LI readout), that neuron is trained by
the output loss instead of a local one.

What differs from the paper: the neurons are the model's (LIF with reset, not DECOLLE's
reset-free membrane with a refractory term) and the local loss is the model's per-step
objective, not necessarily MSE.
"""

from __future__ import annotations

import zlib
from typing import Any

import torch
from torch import nn

from ..neurons.base import SpikingNeuron
from .base import METHODS
from .ottt import OTTT


class LocalReadouts:
    """Within the block, each spiking neuron's output goes on detached and is kept (with
    its graph) for a local loss through a fixed random readout."""

    def __init__(self, model: nn.Module, seed: int) -> None:
        self.neurons = {n: m for n, m in model.named_modules() if isinstance(m, SpikingNeuron)}
        self.seed = int(seed)
        self.kept: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # name: (spikes, passed)
        self._readouts: dict[tuple[str, int, int], torch.Tensor] = {}
        self._handles: list[Any] = []

    def __enter__(self) -> LocalReadouts:
        for name, neuron in self.neurons.items():
            self._handles.append(neuron.register_forward_hook(self._keep(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.kept.clear()

    def begin_step(self) -> None:
        self.kept.clear()

    def _keep(self, name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
            passed = output.detach()
            self.kept[name] = (output, passed)
            return passed

        return hook

    def readout(self, name: str, features: int, classes: int, like: torch.Tensor) -> torch.Tensor:
        """The fixed random ``G`` ``[classes, features]`` of neuron ``name`` (seeded)."""
        key = (name, features, classes)
        if key not in self._readouts:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + zlib.crc32(name.encode()))
            weight = torch.randn(classes, features, generator=g) / features**0.5
            self._readouts[key] = weight.to(like.device, like.dtype)
        return self._readouts[key]

    def split(self, out: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The model output with its graph, and the spikes ``[1, B, ...]`` of every other
        neuron of this step (the one whose output is the model's output is left out)."""
        local = {}
        for name, (spikes, passed) in self.kept.items():
            if passed is out:
                out = spikes
            else:
                local[name] = spikes
        return out, local


@METHODS.register("decolle")
class DECOLLE(OTTT):
    """Layer-local losses through fixed random readouts, stepped like OTTT.

    Args:
        objective: a per-step objective (as SLTT's); used for the output and every layer.
        trace_decay: as :class:`~spikeforge.methods.OTTT`.
        seed: seed of the random readouts.
        objective_kwargs: the objective's options.
    """

    takes_seed = True  # its fixed random readouts

    def __init__(
        self,
        objective: str = "ce_membrane",
        trace_decay: float | None = None,
        seed: int = 0,
        **objective_kwargs: Any,
    ) -> None:
        super().__init__(objective, trace_decay, **objective_kwargs)
        self.readout_seed = int(seed)

    def _runners(self, model: nn.Module) -> list[Any]:
        return [*super()._runners(model), LocalReadouts(model, self.readout_seed)]

    def _step_loss(
        self, runners: list[Any], out: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        readouts = next(r for r in runners if isinstance(r, LocalReadouts))
        out, local = readouts.split(out)
        loss = self.objective(out, targets)
        classes = out.shape[-1]
        for name, spikes in local.items():
            flat = spikes.flatten(2)  # [1, B, features]
            g = readouts.readout(name, flat.shape[-1], classes, flat)
            loss = loss + self.objective(flat @ g.T, targets)
        return out, loss
