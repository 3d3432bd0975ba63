"""OTTT: online training through time (Xiao et al., NeurIPS 2022), the ``"ottt"`` method.

Like SLTT (:mod:`.online`), the model runs one step at a time with the temporal state
detached and each step's loss is backpropagated at once, so memory does not grow with T.
OTTT adds back an estimate of the temporal dependency for the synaptic weights: with a
leaky membrane ``u[t] = λ u[t-1] + W s[t]`` (reset ignored), ``∂u[t]/∂W`` is the
presynaptic trace ``â[t] = λ â[t-1] + s[t]``, so the weight gradient of step t uses ``â[t]``
in place of ``s[t]``: ``∂L[t]/∂W = g[t]ᵀ â[t]``, ``g[t]`` being the gradient at the layer's
output. Every other gradient (inputs, biases, normalisation, neuron parameters) is SLTT's.

The traces are kept for every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` module (the layers
whose weights multiply presynaptic spikes; the first layer's "spikes" are the encoded
input). ``λ`` defaults to the model's LIF leak ``1 - 1/τ`` (it must be the same for all of
its LIF neurons, else set ``trace_decay``). The paper's networks put no BatchNorm between
a synapse and its neuron (they standardise weights instead); with BatchNorm there, the
trace is an approximation outside the paper's derivation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..neurons.lif import LIF
from .base import METHODS
from .online import SLTT, StepwiseRunner

_SYNAPSES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def leak_of(model: nn.Module) -> float:
    """The common ``λ = 1 - 1/τ`` of the model's LIF-family neurons (IF: 1)."""
    leaks = set()
    for m in model.modules():
        if isinstance(m, LIF):
            inv_tau = m.inv_tau if m.charge == "lif" else 0.0
            if isinstance(inv_tau, torch.Tensor):
                raise ValueError(
                    f"{type(m).__name__} has a learnable decay, so OTTT's trace decay cannot "
                    "be read off it: set train.method_options.trace_decay"
                )
            leaks.add(round(1.0 - float(inv_tau), 12))
    if len(leaks) != 1:
        found = sorted(leaks) if leaks else "no LIF-family neuron"
        raise ValueError(
            f"OTTT needs one trace decay λ; the model's LIF neurons give {found}: set "
            "train.method_options.trace_decay"
        )
    return leaks.pop()


class SynapticTraces:
    """Within the block, every synaptic layer's weight gradient uses the trace of its input.

    The output stays exactly the layer's: ``y = f(x; W.detach(), b) + f(â; W) -
    f(â; W).detach()``, whose last two terms cancel to zero in value, while the gradient
    reaches ``x`` (and ``b``) through the first term and ``W`` only through the second.
    """

    def __init__(self, model: nn.Module, decay: float, trace_input_layer: bool = True) -> None:
        self.trace_input_layer = trace_input_layer
        self.layers = {n: m for n, m in model.named_modules() if isinstance(m, _SYNAPSES)}
        for name, m in self.layers.items():
            if isinstance(m, nn.modules.conv._ConvNd) and m.padding_mode != "zeros":
                raise ValueError(
                    f"OTTT supports zero-padded convolutions; {name} has "
                    f"padding_mode={m.padding_mode!r}"
                )
        self.decay = float(decay)
        self.traces: dict[str, torch.Tensor] = {}
        self._called: set[str] = set()

    def __enter__(self) -> SynapticTraces:
        for name, layer in self.layers.items():
            layer.forward = self._traced_forward(name, layer)  # instance attribute
        return self

    def __exit__(self, *exc: object) -> None:
        for layer in self.layers.values():
            layer.__dict__.pop("forward", None)
        self.traces.clear()

    def begin_step(self) -> None:
        """Mark the start of one model call (a layer's trace advances once per call)."""
        self._called.clear()

    def _traced_forward(
        self, name: str, layer: nn.Module
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        apply = _functional(layer)

        def forward(x: torch.Tensor) -> torch.Tensor:
            if name in self._called:
                raise RuntimeError(
                    f"layer {name!r} ran twice in one step; OTTT keeps one presynaptic "
                    "trace per layer module, so a module must not be reused in a model"
                )
            first = not self._called  # the first synaptic layer of the step: the input's
            self._called.add(name)
            if first and not self.trace_input_layer:
                return apply(x, layer.weight, layer.bias)
            previous = self.traces.get(name)
            trace = x.detach() if previous is None else self.decay * previous + x.detach()
            self.traces[name] = trace
            out = apply(x, layer.weight.detach(), layer.bias)
            if not (torch.is_grad_enabled() and layer.weight.requires_grad):
                return out
            through_trace = apply(trace, layer.weight, None)
            return out + (through_trace - through_trace.detach())

        return forward


def _functional(
    layer: nn.Module,
) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]:
    """``(x, weight, bias) -> output`` computed as ``layer`` computes it."""
    if isinstance(layer, nn.Linear):
        return F.linear
    return layer._conv_forward  # the ConvNd forward with explicit weight and bias


@METHODS.register("ottt")
class OTTT(SLTT):
    """Online training through time: SLTT's step-by-step backward with presynaptic traces
    for the synaptic weight gradients (see the module docstring).

    Args:
        objective: a per-step objective, as for :class:`~spikeforge.methods.SLTT`.
        trace_decay: ``λ`` of the traces; ``None`` reads ``1 - 1/τ`` off the model's LIF
            neurons.
        trace_input_layer: also trace the input of the first synaptic layer called in a
            step (the encoded data). The paper's code does not (its inputs are static
            images); ``False`` does the same, giving that layer SLTT's gradient.
        objective_kwargs: the objective's options.
    """

    takes_seed = False

    def __init__(
        self,
        objective: str = "ce_membrane",
        trace_decay: float | None = None,
        trace_input_layer: bool = True,
        **objective_kwargs: Any,
    ) -> None:
        taken = sorted({"k", "seed"} & set(objective_kwargs))
        if taken:  # SLTT's own options: OTTT backpropagates every step, draws nothing
            raise TypeError(f"ottt takes no {', '.join(taken)} (SLTT-K's options)")
        super().__init__(objective, **objective_kwargs)
        if trace_decay is not None and not 0.0 <= float(trace_decay) <= 1.0:
            raise ValueError(f"trace_decay must lie in [0, 1], got {trace_decay!r}")
        self.trace_decay = trace_decay
        self.trace_input_layer = bool(trace_input_layer)

    def _runners(self, model: nn.Module) -> list[Any]:
        decay = leak_of(model) if self.trace_decay is None else self.trace_decay
        return [StepwiseRunner(model), SynapticTraces(model, decay, self.trace_input_layer)]
