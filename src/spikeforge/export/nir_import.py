r"""Import a NIR graph as a spikeforge module over ``[T, B, ...]``.

:func:`from_nir` inverts :func:`~spikeforge.export.to_nir`'s mapping (written out, with
its derivation, in :mod:`spikeforge.export.nir_graph`): ``LIF`` → :class:`~spikeforge.neurons.LIF`
with ``τ = τ_N/dt`` and ``decay_input = (R == 1)`` (``R == τ``: ``False``), ``IF`` (``R =
1/dt``) → :class:`~spikeforge.neurons.IF`, ``CubaLIF`` → :class:`~spikeforge.neurons.CuBa`
(``α = 1 − dt/τ_syn``, ``w_in = τ_syn/dt``), ``LI`` → :class:`~spikeforge.neurons.LI`,
``I`` → ``LI(tau=None)``, ``CubaLI`` → :class:`~spikeforge.export.CubaLI`, the subgraph
``LIF ↔ Linear`` → :class:`~spikeforge.neurons.RLIF`; ``Affine``/``Linear``/``Conv1d``/
``Conv2d``/``AvgPool2d``/``SumPool2d``/``Flatten`` → the torch layer inside
:func:`~spikeforge.layers.fold`. A chain becomes an ``nn.Sequential``, any other acyclic
graph a :class:`~spikeforge.export.NIRGraphModule` (a node sums its inputs). NIR's Conv
always carries a bias; an all-zero one becomes ``bias=False`` (the same output).

The imported neurons fire at ``≥`` like every spikeforge neuron (NIR says ``>``; see
:mod:`spikeforge.export.nir_graph`). ``dt`` comes from the graph's ``metadata["dt"]``
(written by :func:`~spikeforge.export.to_nir`) or must be given: a graph from snnTorch or
SpikingJelly was written for ``dt = 1e-4``.

Refused (``ValueError`` naming the node and why) is what a spikeforge neuron cannot run:
``v_leak ≠ v_reset`` (spikeforge's LIF rests at its reset), ``R`` neither 1 nor ``τ``
(nor ``1/dt`` for IF/I), ``τ_N < dt`` (an Euler step past the fixed point), ``w_in ≠
τ_syn/dt``, time constants or resets that differ between the neurons of one node (only
the threshold may), a non-positive threshold, a recurrent loop other than ``LIF ↔
Linear`` inside a subgraph, and ``Delay``/``Threshold``/``Scale`` nodes.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..layers import fold
from ..neurons import IF, LI, LIF, RLIF, CuBa
from .modules import CubaLI, NIRGraphModule
from .nir_graph import check_dt, require_nir


def _refuse(path: str, node: Any, why: str) -> ValueError:
    return ValueError(f"cannot import NIR node {path!r} ({type(node).__name__}): {why}")


def _recover(target: float, forward: Callable[[float], float], guess: float) -> float:
    """A float ``c`` within 4 ulps of ``guess`` with ``forward(c) == target`` exactly
    (``guess`` if none): undoes the exporter's rounding (``τ_N = τ·dt``, ``τ_syn =
    dt/(1 − α)``). Where several floats export to the same value (``α = 0.3`` and the
    next float up share ``1 − α``), the shortest decimal wins — the value a person typed."""
    candidates, up, down = [guess], guess, guess
    for _ in range(4):
        up, down = math.nextafter(up, math.inf), math.nextafter(down, -math.inf)
        candidates += [up, down]
    exact = [c for c in candidates if forward(c) == target]
    return min(exact, key=lambda c: (len(repr(c)), abs(c - guess))) if exact else guess


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


class _Importer:
    def __init__(self, nir: Any, dt: float) -> None:
        self.nir = nir
        self.dt = dt

    def uniform(self, path: str, node: Any, field: str) -> float:
        values = np.asarray(getattr(node, field), dtype=np.float64)
        if values.size == 0 or not np.all(values == values.flat[0]):
            raise _refuse(
                path,
                node,
                f"{field} differs between its neurons "
                f"({values.min()} … {values.max()}); a spikeforge neuron "
                "has one per layer",
            )
        value = float(values.flat[0])
        if not math.isfinite(value):
            raise _refuse(path, node, f"{field} is {value}")
        return value

    def threshold(self, path: str, node: Any) -> tuple[float, np.ndarray | None]:
        """A uniform threshold, or its first value and the per-neuron array."""
        values = np.asarray(node.v_threshold, dtype=np.float64)
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise _refuse(path, node, "v_threshold must be positive and finite")
        if np.all(values == values.flat[0]):
            return float(values.flat[0]), None
        return float(values.flat[0]), values

    def tau(self, path: str, node: Any, field: str) -> float:
        tau_n = self.uniform(path, node, field)
        tau = _recover(tau_n, lambda c: c * self.dt, tau_n / self.dt)
        if tau < 1.0:
            raise _refuse(
                path,
                node,
                f"{field}/dt = {tau:g} < 1: an Euler step of dt="
                f"{self.dt:g} overshoots the rest (spikeforge needs "
                "tau >= 1 step)",
            )
        return tau

    def charge(self, path: str, node: Any, tau: float, rest: float) -> bool:
        """``decay_input`` from ``r`` (1 or τ); ``v_leak`` must be ``rest``."""
        v_leak = self.uniform(path, node, "v_leak")
        if not _close(v_leak, rest):
            raise _refuse(
                path,
                node,
                f"v_leak={v_leak} differs from the rest {rest} "
                "(spikeforge's membrane rests at its reset)",
            )
        r = self.uniform(path, node, "r")
        if _close(r, 1.0):
            return True
        if _close(r, tau):
            return False
        raise _refuse(
            path,
            node,
            f"r={r} is neither 1 (decay_input=True) nor tau/dt={tau} (decay_input=False)",
        )

    def alpha(self, path: str, node: Any) -> float:
        tau_syn = self.uniform(path, node, "tau_syn")
        if tau_syn < self.dt:
            raise _refuse(path, node, f"tau_syn={tau_syn:g} < dt={self.dt:g}")
        alpha = _recover(tau_syn, lambda a: self.dt / (1.0 - a), 1.0 - self.dt / tau_syn)
        w_in = self.uniform(path, node, "w_in")
        if not _close(w_in, 1.0 / (1.0 - alpha)):
            raise _refuse(
                path,
                node,
                f"w_in={w_in} differs from tau_syn/dt="
                f"{1.0 / (1.0 - alpha)}: spikeforge's synapse adds "
                "its input unscaled",
            )
        return alpha

    def spiking(self, path: str, node: Any, cls: type, **extra: Any) -> nn.Module:
        """IF/LIF/CuBa/RLIF with the node's threshold and reset (and LIF charge)."""
        v_reset = self.uniform(path, node, "v_reset")
        v_th, per_neuron = self.threshold(path, node)
        kwargs: dict[str, Any] = {"v_th": v_th, "v_reset": v_reset, **extra}
        if isinstance(node, self.nir.IF):
            if not _close(self.uniform(path, node, "r"), 1.0 / self.dt):
                raise _refuse(
                    path,
                    node,
                    f"r must be 1/dt={1.0 / self.dt:g} (spikeforge's IF adds its input unscaled)",
                )
        else:
            tau = self.tau(path, node, "tau_mem" if hasattr(node, "tau_mem") else "tau")
            kwargs.update(tau=tau, decay_input=self.charge(path, node, tau, v_reset))
        if per_neuron is not None:
            kwargs.update(learn_threshold=True, param_shape=per_neuron.shape)
        neuron = cls(**kwargs)
        if per_neuron is not None:
            neuron.v_th.data = torch.from_numpy(per_neuron).to(torch.get_default_dtype())
        return neuron

    def leaky(self, path: str, node: Any, field: str) -> dict[str, Any]:
        tau = self.tau(path, node, field)
        return {"tau": tau, "decay_input": self.charge(path, node, tau, 0.0)}

    def node(self, path: str, node: Any) -> nn.Module:
        nir = self.nir
        if isinstance(node, nir.Affine | nir.Linear):
            weight = np.asarray(node.weight)
            if weight.ndim != 2:
                raise _refuse(path, node, f"weight must be 2-D, got shape {weight.shape}")
            bias = getattr(node, "bias", None)
            layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
            layer.weight = nn.Parameter(torch.from_numpy(weight.copy()))
            if bias is not None:
                layer.bias = nn.Parameter(torch.from_numpy(np.asarray(bias).copy()))
            return fold(layer)
        if isinstance(node, nir.Conv1d | nir.Conv2d):
            return fold(self.conv(node))
        if isinstance(node, nir.AvgPool2d | nir.SumPool2d):
            kernel, stride, padding = (
                _ints(x) for x in (node.kernel_size, node.stride, node.padding)
            )
            override = 1 if isinstance(node, nir.SumPool2d) else None
            return fold(nn.AvgPool2d(kernel, stride, padding, divisor_override=override))
        if isinstance(node, nir.Flatten):
            start, end = int(node.start_dim), int(node.end_dim)
            return fold(
                nn.Flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end)
            )
        if isinstance(node, nir.IF):
            return self.spiking(path, node, IF)
        if isinstance(node, nir.LIF):
            return self.spiking(path, node, LIF)
        if isinstance(node, nir.CubaLIF):
            return self.spiking(path, node, CuBa, alpha=self.alpha(path, node))
        if isinstance(node, nir.LI):
            return LI(**self.leaky(path, node, "tau"))
        if isinstance(node, nir.I):
            if not _close(self.uniform(path, node, "r"), 1.0 / self.dt):
                raise _refuse(path, node, f"r must be 1/dt={1.0 / self.dt:g}")
            return LI(tau=None)
        if isinstance(node, nir.CubaLI):
            return CubaLI(alpha=self.alpha(path, node), **self.leaky(path, node, "tau_mem"))
        if isinstance(node, nir.NIRGraph):
            return self.recurrent(path, node) if _has_cycle(node) else self.graph(node, path)
        raise _refuse(path, node, "no spikeforge layer runs this node type")

    def conv(self, node: Any) -> nn.Module:
        weight = np.asarray(node.weight)
        one = isinstance(node, self.nir.Conv1d)
        padding = node.padding if isinstance(node.padding, str) else _ints(node.padding)
        layer = (nn.Conv1d if one else nn.Conv2d)(
            weight.shape[1] * int(node.groups),
            weight.shape[0],
            tuple(weight.shape[2:]),
            stride=_ints(node.stride),
            padding=padding,
            dilation=_ints(node.dilation),
            groups=int(node.groups),
            bias=bool(np.any(np.asarray(node.bias) != 0)),
        )
        layer.weight = nn.Parameter(torch.from_numpy(weight.copy()))
        if layer.bias is not None:
            layer.bias = nn.Parameter(torch.from_numpy(np.asarray(node.bias).copy()))
        return layer

    def recurrent(self, path: str, graph: Any) -> nn.Module:
        """The subgraph ``input → LIF → output`` with the loop ``LIF ↔ Linear`` as RLIF."""
        nir = self.nir
        kinds = {
            name: n for name, n in graph.nodes.items() if not isinstance(n, nir.Input | nir.Output)
        }
        lif = [k for k, n in kinds.items() if isinstance(n, nir.LIF)]
        rec = [k for k, n in kinds.items() if isinstance(n, nir.Linear | nir.Affine)]
        ends = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input | nir.Output)]
        if len(kinds) != 2 or len(lif) != 1 or len(rec) != 1 or len(ends) != 2:
            raise _refuse(
                path,
                graph,
                "its only recurrent loop spikeforge reads is one LIF and one Linear/Affine (RLIF)",
            )
        (n_lif,), (n_rec,) = lif, rec
        loop = {(n_lif, n_rec), (n_rec, n_lif)}
        inner = {e for e in map(tuple, graph.edges) if n_lif in e and n_rec in e}
        outer = [e for e in map(tuple, graph.edges) if tuple(e) not in loop]
        if inner != loop or any(n_rec in e for e in outer):
            raise _refuse(path, graph, "the Linear must only close the LIF's loop")
        w_node = graph.nodes[n_rec]
        if getattr(w_node, "bias", None) is not None and np.any(np.asarray(w_node.bias) != 0):
            raise _refuse(path, graph, "the recurrent Affine has a bias; RLIF's loop has none")
        weight = np.asarray(w_node.weight)
        n = weight.shape[0]
        if weight.shape != (n, n):
            raise _refuse(path, graph, f"the recurrent weight must be square, got {weight.shape}")
        diagonal = np.array_equal(weight, np.diag(np.diag(weight)))
        neuron = self.spiking(
            f"{path}/{n_lif}", graph.nodes[n_lif], RLIF, features=n, all_to_all=not diagonal
        )
        values = np.diag(weight).copy() if diagonal else weight.copy()
        neuron.recurrent_weight = nn.Parameter(torch.from_numpy(values))
        return neuron

    def graph(self, graph: Any, path: str = "") -> nn.Module:
        nir = self.nir
        inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
        outputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Output)]
        if len(inputs) != 1 or len(outputs) != 1:
            raise _refuse(
                path or "<graph>",
                graph,
                f"needs one Input and one Output node, got {inputs} and {outputs}",
            )
        if _has_cycle(graph):
            raise _refuse(
                path or "<graph>", graph, "it has a cycle outside a LIF ↔ Linear subgraph"
            )
        (source,), (sink,) = inputs, outputs
        sources: dict[str, list[str]] = {name: [] for name in graph.nodes}
        for src, dst in graph.edges:
            sources[dst].append(src)
        order = _topological(graph, source)
        modules = {
            name: self.node(f"{path}/{name}" if path else name, graph.nodes[name]) for name in order
        }
        chain = [source, *order, sink]
        if (
            all(sources[b] == [a] for a, b in itertools.pairwise(chain))
            and len(graph.edges) == len(chain) - 1
        ):
            return nn.Sequential(OrderedDict((_safe(k), modules[k]) for k in order))
        safe = {k: _safe(k) for k in graph.nodes}
        return NIRGraphModule(
            {safe[k]: modules[k] for k in order},
            {safe[k]: [safe[s] for s in sources[k]] for k in [*order, sink]},
            [safe[k] for k in order],
            safe[source],
            safe[sink],
        )


def _safe(name: str) -> str:
    """A submodule name: no ``"."``, and not an attribute of the container (``keys``)."""
    name = name.replace(".", "_") or "node"
    return f"node_{name}" if hasattr(nn.ModuleDict(), name) else name


def _ints(value: Any) -> int | tuple[int, ...]:
    array = np.asarray(value).astype(int).reshape(-1)
    return int(array[0]) if array.size == 1 else tuple(int(v) for v in array)


def _has_cycle(graph: Any) -> bool:
    try:
        _topological(graph, None)
    except ValueError:
        return True
    return False


def _topological(graph: Any, source: str | None) -> list[str]:
    """Node names (without ``source``/Input/Output) so that every edge points forward."""
    indegree = {name: 0 for name in graph.nodes}
    for _, dst in graph.edges:
        indegree[dst] += 1
    ready = [name for name, d in indegree.items() if d == 0]
    order: list[str] = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for src, dst in graph.edges:
            if src == name:
                indegree[dst] -= 1
                if indegree[dst] == 0:
                    ready.append(dst)
    if len(order) != len(graph.nodes):
        raise ValueError("cycle")
    kinds = ("Input", "Output")
    return [n for n in order if n != source and type(graph.nodes[n]).__name__ not in kinds]


def from_nir(graph: Any, dt: float | None = None) -> nn.Module:
    """Build a spikeforge module over ``[T, B, ...]`` from a NIR graph.

    Args:
        graph: a ``nir.NIRGraph`` or the path of a ``.nir`` file.
        dt: the Euler step the graph was written for; default: ``graph.metadata["dt"]``
            (set by :func:`~spikeforge.export.to_nir`); required when the graph has none.

    Returns:
        ``nn.Sequential`` for a chain, else :class:`~spikeforge.export.NIRGraphModule`;
        input ``[T, B, *input_shape]`` -> output ``[T, B, *output_shape]``, from rest.

    Raises:
        ValueError: ``dt`` is missing, or a node has no spikeforge equivalent (named).
    """
    nir = require_nir()
    if isinstance(graph, str | Path):
        graph = nir.read(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"from_nir expects a nir.NIRGraph or a path, got {type(graph).__name__}")
    if dt is None:
        stored = (graph.metadata or {}).get("dt")
        if stored is None:
            raise ValueError(
                "the NIR graph has no metadata['dt']: pass from_nir(graph, dt=...) — the step "
                "it was written for (snnTorch and SpikingJelly export with dt=1e-4)"
            )
        dt = float(np.asarray(stored))
    return _Importer(nir, check_dt(dt)).graph(graph)
