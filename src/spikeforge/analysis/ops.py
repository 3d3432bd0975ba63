r"""Synaptic operation counting at the aten dispatch level (any model, real inputs).

What is counted: the multiply-accumulates of every convolution and matrix product that
actually executes — ``aten.convolution`` / ``aten._convolution`` (conv and transposed
conv, any groups), ``aten.mm``, ``aten.addmm``, ``aten.bmm``, ``aten.baddbmm``, and
``aten.linear`` / ``aten.matmul`` should a backend dispatch them undecomposed. Elementwise
work (neuron dynamics, norms, adds) is not synaptic and is not counted.

Per op, with dense count ``MACs`` (what an ANN would do):

- convolution: ``MACs = numel(out) · C_in/groups · ∏k`` (``numel(in) · C_out/groups · ∏k``
  for a transposed conv); padded positions count, as is customary;
- ``[M, K] @ [K, N]``: ``MACs = M · K · N`` (batched: times the batch).

An *activation* operand is an **event** operand when it carries spikes:

- spikes: binary ``{0, 1}`` or ternary ``{-1, 0, 1}`` values, or such spikes scaled by a
  number or a broadcast ``[C, 1, 1]`` tensor (converted networks emit ``λ·s``) — one
  event per nonzero;
- spike counts: the output of average pooling, adaptive average pooling, ``mean``,
  ``sum`` or a plain ``add`` of event tensors (SEW's ADD join). A pooled value ``k·q`` is
  ``k`` events, ``q`` being the value of one spike after the op (``1/4`` after a 2×2
  average pool of binary spikes, ``λ/4`` of λ-spikes; the least nonzero value when a
  per-channel λ makes it unknown); every value must be an integer multiple of ``q``,
  else the operand is analog. Pooling is linear, so the next layer can absorb the ``1/n``
  and do one accumulate per arriving spike; counting its input as dense MACs would
  charge an SNN for analog work it never does.

Events are recognised by *provenance*: the counter follows, op by op, which tensors were
made from spikes by those ops (and by copies, ``cat``, ``stack``). Values alone do not
decide, so a constant or 8-bit image (multiples of 1/255) stays analog.

An op with an event operand is an accumulate (AC) op and only events cost work (unless
spike counts make that more than its dense MACs: then it is a MAC op, as hardware would
multiply by the count):

- convolution / linear: ``SOPs = Σ events(x)/numel(x) · MACs`` (the input rate × dense);
- ``A @ B``: ``SOPs = Σ_k a_k · b_k`` with ``a_k`` the events in column ``k`` of ``A`` if
  ``A`` is an event operand else its row count (dense), likewise ``b_k`` for row ``k`` of
  ``B``. With one event operand this is again rate × MACs; with two (``Q Kᵀ`` on spiking
  ``Q`` and ``K``) an accumulate happens only where both spikes are present.

Otherwise the op is a MAC op with ``SOPs = MACs``. Operands that are model parameters
(weights, detected by sharing a parameter's storage, so ``W.t()`` views count) are never
tested: a ternary or all-zero weight matrix does not make a layer "spiking".

Why dispatch level rather than per-layer forward hooks: the dispatcher sees every
matrix product regardless of how it was written — a ``Conv2d`` inside
:class:`~spikeforge.layers.TimeFold`, ``q @ k.transpose(-2, -1)`` in a user's attention
block, ``einsum``, ``F.linear`` — and sees it with the real tensors, so the binary check
and the nonzero counts are on the data that was actually multiplied. Hooks would need a
FLOP rule per module type and would miss functional matmuls entirely. Module hooks are
still used, but only to *name* ops: forward pre/post hooks push and pop the module path on
a stack, and each counted op is attributed to the innermost module running it.

Names. An op's ``layer`` is the qualified name, in ``model.named_modules()``, of the
module running it (of the model inside any DDP/compile wrapper; ``""`` for the root):
``"2.layer.0"`` is the ``Conv2d`` inside the ``fold(...)`` at position 2. A module that
runs several ops keeps its name; ``index`` numbers its ops. The ``inputs`` of an
accumulate op name the spiking layers whose spikes it consumes (followed through
copies, pooling, scaling and adds, as the events are), in the same qualified names as
the firing rates of :class:`~spikeforge.analysis.monitors.FiringRateMonitor` — so an
energy row and the firing rate that drives it are joined by name.

Shapes: ``inputs`` is time-major ``[T, B, ...]``; counts are summed over the whole
forward and reported per sample (``÷ B``) by :class:`OpCounts`.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from .monitors import spiking_layers, unwrap_model

aten = torch.ops.aten

AC = "AC"
MAC = "MAC"


def is_binary(x: torch.Tensor) -> bool:
    """True if every value of ``x`` is in ``{0, 1}`` or in ``{-1, 0, 1}`` (spikes)."""
    if x.dtype == torch.bool:
        return True
    if x.numel() == 0:
        return False
    return bool(((x == 0) | (x == 1) | (x == -1)).all())


def spike_events(x: torch.Tensor) -> torch.Tensor | None:
    """Events per element (``x != 0``) if ``x`` is binary or ternary, else None."""
    return (x != 0).to(torch.int64) if is_binary(x) else None


# Largest multiplicity accepted for a pooled value (a 7x7 global pool of 1 step is 49).
MAX_EVENTS_PER_VALUE = 4096


def count_events(x: torch.Tensor, quantum: float | None = None) -> torch.Tensor | None:
    """Events per element of a spike-count tensor: ``|x| / q``.

    ``q`` is the value of one spike after pooling (``quantum``, e.g. ``1/4`` after a 2×2
    average pool of binary spikes); when unknown, the least nonzero ``|x|``. None unless
    every value is an integer multiple of ``q`` (relative tolerance 1e-3) and at most
    :data:`MAX_EVENTS_PER_VALUE` times ``q``.
    """
    if x.numel() == 0 or not x.is_floating_point():
        return spike_events(x)
    magnitude = x.detach().abs().to(torch.float64)
    if quantum is None:
        nonzero = magnitude[magnitude > 0]
        if nonzero.numel() == 0:
            return torch.zeros_like(magnitude, dtype=torch.int64)
        quantum = float(nonzero.min())
    ratio = magnitude / quantum
    events = ratio.round()
    if float(events.max()) > MAX_EVENTS_PER_VALUE:
        return None
    if bool(((ratio - events).abs() > 1e-3 * events.clamp_min(1)).any()):
        return None
    return events.to(torch.int64)


@dataclass
class OpRecord:
    """Counts of one op site, accumulated over every call during the forward.

    Attributes:
        module: dotted module path running the op (``""`` = the root model).
        index: ordinal of the op within one forward of that module (0, 1, ...).
        op: aten op name, e.g. ``"convolution"``, ``"bmm"``.
        kind: ``"AC"`` (binary activation operand) or ``"MAC"``.
        macs: dense multiply-accumulates, summed over calls (whole batch, all steps).
        sops: operations that actually happen: ``macs`` for MAC ops, accumulates for AC.
        calls: number of executions.
        inputs: qualified names of the spiking layers whose spikes the op consumed
            (empty for analog operands and for spikes that come from the data).
    """

    module: str
    index: int
    op: str
    kind: str
    macs: int = 0
    sops: int = 0
    calls: int = 0
    inputs: tuple[str, ...] = ()

    @property
    def rate(self) -> float:
        """Effective input firing rate ``sops / macs`` (1 for analog-input MAC ops)."""
        return self.sops / self.macs if self.macs else 0.0


@dataclass
class OpCounts:
    """Result of :func:`count_operations`.

    Attributes:
        records: one :class:`OpRecord` per op site, in first-execution order.
        steps: ``T`` of the counted input.
        batch_size: ``B`` of the counted input; ``per_sample`` values divide by it.
        distinct_steps: each of the ``T`` steps ran a different sub-network (a model
            that sets ``distinct_step_networks = True``, e.g. T-RevSNN's columns), so the
            ANN twin runs all of them once instead of one step's network.
    """

    records: list[OpRecord] = field(default_factory=list)
    steps: int = 1
    batch_size: int = 1
    distinct_steps: bool = False

    def label(self, record: OpRecord) -> str:
        """Display only: the module path, suffixed ``#i`` if the module runs several ops
        (rows and JSON carry the plain qualified name and ``index`` instead)."""
        name = record.module or "<model>"
        siblings = sum(r.module == record.module for r in self.records)
        return f"{name}#{record.index}" if siblings > 1 else name

    def per_sample(self) -> list[dict[str, Any]]:
        """Rows ``{layer, index, op, kind, inputs, macs, sops, rate}`` per inference of one
        sample; ``layer`` is the qualified module name (see the module docstring)."""
        return [
            {
                "layer": r.module,
                "index": r.index,
                "op": r.op,
                "kind": r.kind,
                "inputs": r.inputs,
                "macs": r.macs / self.batch_size,
                "sops": r.sops / self.batch_size,
                "rate": r.rate,
            }
            for r in self.records
        ]

    @property
    def total_macs(self) -> float:
        """Dense MACs per sample per inference (all T steps)."""
        return sum(r.macs for r in self.records) / self.batch_size

    @property
    def mac_ops(self) -> float:
        """Operations per sample that are multiply-accumulates (analog operands)."""
        return sum(r.sops for r in self.records if r.kind == MAC) / self.batch_size

    @property
    def ac_ops(self) -> float:
        """Synaptic operations (accumulates) per sample: ``Σ rate · T · FLOPs``."""
        return sum(r.sops for r in self.records if r.kind == AC) / self.batch_size

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (per-sample rows and totals)."""
        return {
            "steps": self.steps,
            "batch_size": self.batch_size,
            "layers": self.per_sample(),
            "total_macs": self.total_macs,
            "mac_ops": self.mac_ops,
            "ac_ops": self.ac_ops,
        }


# ---- per-op rules: each returns (dense MACs, activation operands, exact SOPs or None) -----


def _conv_macs(inp: torch.Tensor, weight: torch.Tensor, out: torch.Tensor, transposed: bool) -> int:
    kernel = math.prod(weight.shape[2:])
    # Weight is [C_out, C_in/g, k...] (or [C_in, C_out/g, k...] transposed): dim 1 is the
    # fan per output (or per input) element in both layouts.
    return (inp if transposed else out).numel() * weight.shape[1] * kernel


def _pair_sops(
    a: torch.Tensor, b: torch.Tensor, a_events: torch.Tensor | None, b_events: torch.Tensor | None
) -> int:
    """Exact work of ``a @ b`` (``[..., M, K] @ [..., K, N]``) skipping zero spikes."""
    # a_k: events in column k of A (event operand) else M; b_k: events in row k of B else N.
    if a_events is not None:
        a_k = a_events.sum(-2)
    else:
        a_k = torch.full(a.shape[:-2] + a.shape[-1:], a.shape[-2], device=a.device)
    b_k = (
        b_events.sum(-1)
        if b_events is not None
        else torch.full(b.shape[:-1], b.shape[-1], device=b.device)
    )
    # Broadcasting a_k [..., K] against b_k [..., K] also covers batched/broadcast matmul.
    return int((a_k.to(torch.int64) * b_k.to(torch.int64)).sum())


def _rate_sops(macs: int, events: torch.Tensor) -> int:
    """``Σ events / numel · MACs``: dense work scaled by the events per input element."""
    return round(macs * int(events.sum()) / events.numel())


# Ops whose output carries the events of their inputs. Copies keep the kind (spikes stay
# spikes); pooling, means and sums of event tensors give spike counts.
_COPIES = ("clone", "_to_copy", "cat", "stack", "contiguous")
_POOLING = (
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "_adaptive_avg_pool2d", "_adaptive_avg_pool3d",
    "adaptive_avg_pool1d", "mean", "add", "sum",
)  # fmt: skip
SPIKES, COUNTS = "spikes", "counts"
Kind = Callable[[Any], tuple[str | None, "float | None"]]


def _scale(value: Any) -> float | None:
    """A uniform multiplier as a float (a number or a one-element tensor), else None."""
    if isinstance(value, torch.Tensor):
        return float(value) if value.numel() == 1 else None
    return float(value) if isinstance(value, int | float) else None


def _pool_size(name: str, x: torch.Tensor, out: torch.Tensor, args: tuple[Any, ...]) -> int | None:
    """How many inputs one output of a pooling/mean op averages (None if it varies)."""
    if name.startswith("avg_pool"):
        kernel = args[1]
        padding = args[3] if len(args) > 3 else 0
        count_include_pad = args[5] if len(args) > 5 else True
        divisor = args[6] if len(args) > 6 else None
        if divisor:
            return int(divisor)
        pads = padding if isinstance(padding, list | tuple) else [padding]
        if any(p != 0 for p in pads) and not count_include_pad:
            return None  # edge windows divide by fewer inputs
        return math.prod(kernel if isinstance(kernel, list | tuple) else [kernel])
    if "adaptive" in name:
        dims = len(args[1])
        sizes = x.shape[-dims:]
        outs = out.shape[-dims:]
        if any(i % o for i, o in zip(sizes, outs, strict=True)):
            return None
        return math.prod(i // o for i, o in zip(sizes, outs, strict=True))
    if name == "mean":
        dims = args[1] if len(args) > 1 and args[1] is not None else list(range(x.dim()))
        dims = dims if isinstance(dims, list | tuple) else [dims]
        return math.prod(x.shape[d] for d in dims) if dims else x.numel()
    return 1


def _carried_events(
    name: str, out: torch.Tensor, args: tuple[Any, ...], kind_of: Kind
) -> tuple[str, float | None] | None:
    """``(kind, value of one spike)`` of ``out = name(*args)`` if it carries events."""
    if name in ("mul", "div"):
        # Spikes scaled by a threshold λ (a number, or a [C, 1, 1] tensor broadcast over
        # them) are still spikes; spikes times an analog map of their own size (a gate,
        # attention) are not.
        for position in (0, 1) if name == "mul" else (0,):
            kind, quantum = kind_of(args[position])
            other = args[1 - position]
            small = not isinstance(other, torch.Tensor) or other.numel() < out.numel()
            if kind is not None and small:
                factor = _scale(other)
                if factor is None or quantum is None or factor == 0:
                    return kind, None  # per-channel scale or unknown quantum
                scaled = quantum * factor if name == "mul" else quantum / factor
                return kind, abs(scaled)
        return None
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    tensors += [t for a in args if isinstance(a, list | tuple) for t in a
                if isinstance(t, torch.Tensor)]  # fmt: skip
    kinds = [kind_of(t) for t in tensors]
    if not kinds or any(k is None for k, _ in kinds):
        return None
    quanta = {q for _, q in kinds}
    quantum = quanta.pop() if len(quanta) == 1 else None
    if name in _COPIES:
        return (COUNTS if any(k == COUNTS for k, _ in kinds) else SPIKES), quantum
    if name == "add" and (len(tensors) != 2 or (len(args) > 2 and args[2] != 1)):
        return None  # only a plain sum of two event tensors (SEW's ADD); x + bias is analog
    size = _pool_size(name, tensors[0], out, args)
    return COUNTS, (quantum / size if quantum is not None and size else None)


class _Counter(TorchDispatchMode):
    """Dispatch mode that counts matrix ops into records keyed by (module, index)."""

    def __init__(self, param_storages: set[int]) -> None:
        super().__init__()
        self.param_storages = param_storages
        self.records: dict[tuple[str, int], OpRecord] = {}
        # Stack of [module path, ops seen in this invocation].
        self.stack: list[list[Any]] = [["", 0]]
        # Event tensors recognised by how they were made, not by value: storage pointer ->
        # (weak reference, SPIKES or COUNTS, value of one spike or None if unknown).
        # SPIKES: amplitude-carrying spikes (binary spikes times λ; any nonzero is one
        # event); COUNTS: pooled/summed events. The weak reference guards against a freed
        # pointer being reused by another tensor.
        self.tracked: dict[int, tuple[weakref.ref[torch.Tensor], str, float | None]] = {}
        # Which spiking layers' spikes a tensor carries: storage pointer -> (weak
        # reference to the storage, qualified layer names). Set at a spiking layer's
        # output, carried along with the events by _track. The storage, not the tensor:
        # views of a layer's spikes (split heads, flatten) outlive the output tensor.
        self.sources: dict[int, tuple[weakref.ref[Any], tuple[str, ...]]] = {}
        self.rules: dict[Any, Callable[..., None]] = {
            aten.convolution.default: self._conv,
            aten._convolution.default: self._conv,
            aten.mm.default: self._mm,
            aten.addmm.default: self._addmm,
            aten.bmm.default: self._mm,
            aten.baddbmm.default: self._addmm,
            aten.matmul.default: self._mm,
            aten.linear.default: self._linear,
        }

    def _kind(self, x: Any) -> tuple[str | None, float | None]:
        """``(SPIKES | COUNTS | None, value of one spike)``; weights are never events."""
        if not isinstance(x, torch.Tensor):
            return None, None
        ptr = x.untyped_storage().data_ptr()
        if ptr in self.param_storages:
            return None, None
        entry = self.tracked.get(ptr)
        if entry is not None and entry[0]() is not None:
            return entry[1], entry[2]
        return (SPIKES, 1.0) if is_binary(x) else (None, None)

    def _source(self, x: Any) -> tuple[str, ...]:
        """Names of the spiking layers whose spikes ``x`` carries (empty if none known)."""
        if not isinstance(x, torch.Tensor):
            return ()
        storage = x.untyped_storage()
        entry = self.sources.get(storage.data_ptr())
        return entry[1] if entry is not None and entry[0]() is storage else ()

    def _sources(self, *tensors: Any) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for t in tensors for name in self._source(t)))

    def mark_spikes(self, name: str, out: Any) -> None:
        """Record ``out`` as the spikes of the spiking layer ``name``."""
        if isinstance(out, torch.Tensor):
            storage = out.untyped_storage()
            self.sources[storage.data_ptr()] = (weakref.ref(storage), (name,))

    def _events(self, x: torch.Tensor) -> torch.Tensor | None:
        """Events per element of an activation, or None (analog)."""
        kind, quantum = self._kind(x)
        if kind == SPIKES:
            return (x != 0).to(torch.int64)
        return count_events(x, quantum) if kind == COUNTS else None

    def _track(self, name: str, out: Any, args: tuple[Any, ...]) -> None:
        """Record ``out`` as an event tensor when ``name`` carries its inputs' events."""
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            return
        result = _carried_events(name, out, args, self._kind)
        if result is not None:
            ptr = out.untyped_storage().data_ptr()
            self.tracked[ptr] = (weakref.ref(out), *result)
            operands = [*args, *(t for a in args if isinstance(a, list | tuple) for t in a)]
            sources = self._sources(*operands)
            if sources:
                self.sources[ptr] = (weakref.ref(out.untyped_storage()), sources)

    def _add(
        self, op: str, macs: int, binary: bool, sops: int, inputs: tuple[str, ...] = ()
    ) -> None:
        frame = self.stack[-1]
        key = (frame[0], frame[1])
        frame[1] += 1
        # Spike counts denser than one event per input element cost more accumulates
        # than the dense layer has MACs; hardware would multiply by the count instead.
        kind = AC if binary and sops <= macs else MAC
        record = self.records.get(key)
        if record is None:
            record = self.records[key] = OpRecord(module=key[0], index=key[1], op=op, kind=kind)
        elif record.kind != kind:
            # The same site saw spikes once and analog values another time: report the
            # costlier MAC kind and count every call as dense.
            record.kind = MAC
        record.macs += macs
        record.sops += macs if record.kind == MAC else sops
        record.calls += 1
        if binary:
            record.inputs = tuple(dict.fromkeys((*record.inputs, *inputs)))

    def _conv(
        self, op: str, out: torch.Tensor, inp: torch.Tensor, weight: torch.Tensor, *rest: Any
    ) -> None:
        transposed = bool(rest[4]) if len(rest) > 4 else False
        macs = _conv_macs(inp, weight, out, transposed)
        events = self._events(inp)
        sops = _rate_sops(macs, events) if events is not None else macs
        self._add("convolution", macs, events is not None, sops, self._sources(inp))

    def _linear(
        self, op: str, out: torch.Tensor, inp: torch.Tensor, weight: torch.Tensor, *_: Any
    ) -> None:
        macs = out.numel() * inp.shape[-1]
        events = self._events(inp)
        sops = _rate_sops(macs, events) if events is not None else macs
        self._add("linear", macs, events is not None, sops, self._sources(inp))

    def _mm(self, op: str, out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, *_: Any) -> None:
        if a.dim() < 2 or b.dim() < 2:  # vector products (matmul only): dense count
            macs = out.numel() * a.shape[-1]
            self._add(op, macs, False, macs)
            return
        macs = out.numel() * a.shape[-1]
        a_events, b_events = self._events(a), self._events(b)
        spiking = a_events is not None or b_events is not None
        sops = _pair_sops(a, b, a_events, b_events) if spiking else macs
        event_operands = [t for t, e in ((a, a_events), (b, b_events)) if e is not None]
        self._add(op, macs, spiking, sops, self._sources(*event_operands))

    def _addmm(self, op: str, out: torch.Tensor, bias: torch.Tensor, *operands: Any) -> None:
        self._mm(op, out, operands[0], operands[1])  # the bias add is not a synaptic op

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        rule = self.rules.get(func)
        if rule is not None:
            rule(name, out, *args)
        elif name in _POOLING or name in _COPIES or name in ("mul", "div"):
            self._track(name, out, args)
        return out


@contextmanager
def _module_scopes(model: nn.Module, counter: _Counter) -> Iterator[None]:
    """Forward pre/post hooks that keep ``counter.stack`` = the running module path, and
    mark the outputs of spiking layers as their spikes."""

    def push(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any) -> None:
            counter.stack.append([name, 0])

        return hook

    def pop(module: nn.Module, args: Any, output: Any) -> None:
        counter.stack.pop()

    def pop_spikes(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            counter.stack.pop()
            counter.mark_spikes(name, output)

        return hook

    spiking = {id(module) for _, module in spiking_layers(model)}
    handles = []
    try:
        for name, module in unwrap_model(model).named_modules():
            handles.append(module.register_forward_pre_hook(push(name)))
            post = pop_spikes(name) if id(module) in spiking else pop
            handles.append(module.register_forward_hook(post, always_call=True))
        yield
    finally:
        for handle in handles:
            handle.remove()


def count_operations(
    model: nn.Module,
    inputs: torch.Tensor | tuple[Any, ...],
    steps: int | None = None,
    batch_size: int | None = None,
) -> OpCounts:
    """Run ``model(inputs)`` once under no_grad and count its synaptic operations.

    Args:
        model: any module (left in its current train/eval mode — put it in eval first).
        inputs: a ``[T, B, ...]`` tensor, or a tuple of positional arguments.
        steps: ``T``; default ``inputs.shape[0]``.
        batch_size: ``B`` to normalise per sample; default ``inputs.shape[1]``.

    Returns:
        :class:`OpCounts` with one record per op site (see the module docstring).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    first = args[0] if args else None
    if steps is None or batch_size is None:
        if not isinstance(first, torch.Tensor) or first.dim() < 2:
            shape = tuple(first.shape) if isinstance(first, torch.Tensor) else ""
            raise ValueError(
                "inputs must be a [T, B, ...] tensor (or pass steps= and batch_size=), got "
                f"{type(first).__name__}{shape}"
            )
        steps = int(first.shape[0]) if steps is None else steps
        batch_size = int(first.shape[1]) if batch_size is None else batch_size
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}")
    storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    counter = _Counter(storages)
    with torch.no_grad(), _module_scopes(model, counter), counter:
        model(*args)
    return OpCounts(
        list(counter.records.values()),
        steps=steps,
        batch_size=batch_size,
        distinct_steps=bool(getattr(model, "distinct_step_networks", False)),
    )
