"""Modules that :func:`~spikeforge.export.from_nir` builds where spikeforge has no layer of
its own: :class:`CubaLI` (NIR's current-based leaky integrator, a non-spiking readout) and
:class:`NIRGraphModule` (a graph that is not a chain: residual sums, several branches).

Both follow the library's convention: input ``[T, B, ...]`` -> output ``[T, B, ...]``,
every call from rest. :func:`~spikeforge.export.to_nir` exports both back to the same
NIR nodes and edges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from ..functional.leaky import LeakyParameters, leaky_scan
from ..functional.lif import LIFParameters
from ..functional.readout import li_sequence, li_step
from ..functional.state import CuBaState, LIState
from ..neurons.base import SpikingNeuron


class CubaLI(SpikingNeuron):
    r"""Current-based leaky integrator: ``I[t] = α I[t-1] + X[t]`` drives an LI membrane.

    The membrane is :class:`~spikeforge.neurons.LI`'s: ``V[t] = V[t-1] + (I[t] - V[t-1])/τ``
    (``decay_input=True``) or ``V[t] = V[t-1] - V[t-1]/τ + I[t]``; no firing, the output is
    ``V`` itself (a readout). It is :class:`~spikeforge.neurons.CuBa` without the spike.

    Args:
        alpha: synaptic decay ``α`` ∈ [0, 1).
        tau: membrane time constant ``τ >= 1``.
        decay_input: the LIF charge form.

    Input ``[T, B, ...]`` -> membrane ``[T, B, ...]``; state ``CuBaState(i, v)``.
    """

    state_keeps_non_finite = True  # I and V keep NaN/inf (see SpikingNeuron)

    def __init__(self, alpha: float = 0.5, tau: float = 2.0, decay_input: bool = True) -> None:
        super().__init__()
        if not isinstance(alpha, int | float) or not 0.0 <= alpha < 1.0:
            raise ValueError(f"alpha (synaptic decay) must lie in [0, 1), got {alpha!r}")
        if not isinstance(tau, int | float) or not 1.0 <= tau < float("inf"):
            raise ValueError(f"tau must be a finite number >= 1, got {tau!r}")
        self.alpha = float(alpha)
        self.tau = float(tau)
        self.decay_input = bool(decay_input)

    def _membrane(self) -> LIFParameters:
        return LIFParameters(inv_tau=1.0 / self.tau, decay_input=self.decay_input)

    def initial_state(self, x_t: torch.Tensor) -> CuBaState:
        return CuBaState(i=torch.zeros_like(x_t), v=torch.zeros_like(x_t))

    def _run(self, x: torch.Tensor, state: CuBaState) -> tuple[torch.Tensor, CuBaState]:
        current, i_last = leaky_scan(x, state.i, LeakyParameters("decay", self.alpha))
        v, last = li_sequence(current, LIState(state.v), self._membrane())
        return v, CuBaState(i_last, last.v)

    def _step(self, x_t: torch.Tensor, state: CuBaState) -> tuple[torch.Tensor, CuBaState]:
        i = self.alpha * state.i + x_t
        v, last = li_step(i, LIState(state.v), self._membrane())
        return v, CuBaState(i, last.v)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, tau={self.tau}, decay_input={self.decay_input}"


class NIRGraphModule(nn.Module):
    """A directed acyclic graph of ``[T, B, ...]`` modules, run node by node.

    Every node takes the **sum** of its sources' outputs (NIR's rule for a node with
    several incoming edges: a residual ADD is two edges into one node). Nodes run in
    ``order``; because every module sees the whole sequence ``[T, B, ...]`` at once and
    the graph has no cycle (a recurrent loop lives inside one module, e.g.
    :class:`~spikeforge.neurons.RLIF`), that equals stepping the graph through time.

    Args:
        nodes: name -> module (``[T, B, ...]`` -> ``[T, B, ...]``); names are used as
            submodule names, so they may not contain ``"."``.
        sources: name -> the names whose outputs sum into it; ``input_name`` stands for
            the graph input.
        order: the node names in an order where every source comes first.
        input_name, output_name: the graph's input and output (the output is the sum
            of ``sources[output_name]``).
    """

    def __init__(
        self,
        nodes: Mapping[str, nn.Module],
        sources: Mapping[str, Sequence[str]],
        order: Sequence[str],
        input_name: str = "input",
        output_name: str = "output",
    ) -> None:
        super().__init__()
        self.nodes = nn.ModuleDict(dict(nodes))
        self.sources = {name: list(src) for name, src in sources.items()}
        self.order = list(order)
        self.input_name = input_name
        self.output_name = output_name
        seen = {input_name}
        for name in [*self.order, output_name]:
            missing = [s for s in self.sources.get(name, []) if s not in seen]
            if not self.sources.get(name) or missing:
                raise ValueError(
                    f"graph node {name!r} needs its sources computed first, got sources "
                    f"{self.sources.get(name)} with {missing} not yet computed"
                )
            if name != output_name and name not in self.nodes:
                raise ValueError(f"graph node {name!r} in order has no module")
            seen.add(name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[T, B, ...]`` -> the output node's input sum ``[T, B, ...']``."""
        values = {self.input_name: x}

        def gathered(name: str) -> torch.Tensor:
            first, *rest = (values[s] for s in self.sources[name])
            for other in rest:
                first = first + other
            return first

        for name in self.order:
            values[name] = self.nodes[name](gathered(name))
        return gathered(self.output_name)

    def extra_repr(self) -> str:
        edges = ", ".join(
            f"{s}->{n}" for n in [*self.order, self.output_name] for s in self.sources[n]
        )
        return f"edges=[{edges}]"
