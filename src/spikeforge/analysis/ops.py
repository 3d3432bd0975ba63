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

If an *activation* operand is binary (all values in ``{0, 1}`` or ``{-1, 0, 1}``: spikes,
ternary spikes) the op is an accumulate (AC) op and only nonzero spikes cost work:

- convolution / linear: ``SOPs = nnz(x)/numel(x) · MACs`` (the input firing rate × dense);
- ``A @ B``: ``SOPs = Σ_k a_k · b_k`` with ``a_k`` the nonzeros of column ``k`` of ``A`` if
  ``A`` is binary else its row count (dense), likewise ``b_k`` for row ``k`` of ``B``.
  With one binary operand this is again rate × MACs; with two (``Q Kᵀ`` on spiking ``Q``
  and ``K``) an accumulate happens only where both spikes are present.

Otherwise the op is a MAC op with ``SOPs = MACs``. Operands that are model parameters
(weights, detected by sharing a parameter's storage, so ``W.t()`` views count) are never
tested for binarity: a ternary or all-zero weight matrix does not make a layer "spiking".

Why dispatch level rather than per-layer forward hooks: the dispatcher sees every
matrix product regardless of how it was written — a ``Conv2d`` inside
:class:`~spikeforge.layers.TimeFold`, ``q @ k.transpose(-2, -1)`` in a user's attention
block, ``einsum``, ``F.linear`` — and sees it with the real tensors, so the binary check
and the nonzero counts are on the data that was actually multiplied. Hooks would need a
FLOP rule per module type and would miss functional matmuls entirely. Module hooks are
still used, but only to *name* ops: forward pre/post hooks push and pop the module path on
a stack, and each counted op is attributed to the innermost module running it.

Shapes: ``inputs`` is time-major ``[T, B, ...]``; counts are summed over the whole
forward and reported per sample (``÷ B``) by :class:`OpCounts`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

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
    """

    module: str
    index: int
    op: str
    kind: str
    macs: int = 0
    sops: int = 0
    calls: int = 0

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
    """

    records: list[OpRecord] = field(default_factory=list)
    steps: int = 1
    batch_size: int = 1

    def label(self, record: OpRecord) -> str:
        """Display name: the module path, suffixed ``#i`` if the module runs several ops."""
        name = record.module or "<model>"
        siblings = sum(r.module == record.module for r in self.records)
        return f"{name}#{record.index}" if siblings > 1 else name

    def per_sample(self) -> list[dict[str, Any]]:
        """Rows ``{layer, op, kind, macs, sops, rate}`` per inference of one sample."""
        return [
            {
                "layer": self.label(r),
                "op": r.op,
                "kind": r.kind,
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


def _pair_sops(a: torch.Tensor, b: torch.Tensor, a_bin: bool, b_bin: bool) -> int:
    """Exact work of ``a @ b`` (``[..., M, K] @ [..., K, N]``) skipping zero spikes."""
    # a_k: nonzeros of column k of A (binary) else M; b_k: nonzeros of row k of B else N.
    if a_bin:
        a_k = (a != 0).sum(-2)
    else:
        a_k = torch.full(a.shape[:-2] + a.shape[-1:], a.shape[-2], device=a.device)
    b_k = (b != 0).sum(-1) if b_bin else torch.full(b.shape[:-1], b.shape[-1], device=b.device)
    # Broadcasting a_k [..., K] against b_k [..., K] also covers batched/broadcast matmul.
    return int((a_k.to(torch.int64) * b_k.to(torch.int64)).sum())


class _Counter(TorchDispatchMode):
    """Dispatch mode that counts matrix ops into records keyed by (module, index)."""

    def __init__(self, param_storages: set[int]) -> None:
        super().__init__()
        self.param_storages = param_storages
        self.records: dict[tuple[str, int], OpRecord] = {}
        # Stack of [module path, ops seen in this invocation].
        self.stack: list[list[Any]] = [["", 0]]
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

    def _activation(self, x: torch.Tensor) -> bool:
        """Binary check on an activation; parameters (weights) are never 'spikes'."""
        if x.untyped_storage().data_ptr() in self.param_storages:
            return False
        return is_binary(x)

    def _add(self, op: str, macs: int, binary: bool, sops: int) -> None:
        frame = self.stack[-1]
        key = (frame[0], frame[1])
        frame[1] += 1
        kind = AC if binary else MAC
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

    def _conv(
        self, op: str, out: torch.Tensor, inp: torch.Tensor, weight: torch.Tensor, *rest: Any
    ) -> None:
        transposed = bool(rest[4]) if len(rest) > 4 else False
        macs = _conv_macs(inp, weight, out, transposed)
        binary = self._activation(inp)
        sops = round(macs * int((inp != 0).sum()) / inp.numel()) if binary else macs
        self._add("convolution", macs, binary, sops)

    def _linear(
        self, op: str, out: torch.Tensor, inp: torch.Tensor, weight: torch.Tensor, *_: Any
    ) -> None:
        macs = out.numel() * inp.shape[-1]
        binary = self._activation(inp)
        sops = round(macs * int((inp != 0).sum()) / inp.numel()) if binary else macs
        self._add("linear", macs, binary, sops)

    def _mm(self, op: str, out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, *_: Any) -> None:
        if a.dim() < 2 or b.dim() < 2:  # vector products (matmul only): dense count
            macs = out.numel() * a.shape[-1]
            self._add(op, macs, False, macs)
            return
        macs = out.numel() * a.shape[-1]
        a_bin, b_bin = self._activation(a), self._activation(b)
        binary = a_bin or b_bin
        sops = _pair_sops(a, b, a_bin, b_bin) if binary else macs
        self._add(op, macs, binary, sops)

    def _addmm(self, op: str, out: torch.Tensor, bias: torch.Tensor, *operands: Any) -> None:
        self._mm(op, out, operands[0], operands[1])  # the bias add is not a synaptic op

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        out = func(*args, **(kwargs or {}))
        rule = self.rules.get(func)
        if rule is not None:
            rule(func.overloadpacket.__name__, out, *args)
        return out


@contextmanager
def _module_scopes(model: nn.Module, counter: _Counter) -> Iterator[None]:
    """Forward pre/post hooks that keep ``counter.stack`` = the running module path."""

    def push(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any) -> None:
            counter.stack.append([name, 0])

        return hook

    def pop(module: nn.Module, args: Any, output: Any) -> None:
        counter.stack.pop()

    handles = []
    try:
        for name, module in model.named_modules():
            handles.append(module.register_forward_pre_hook(push(name)))
            handles.append(module.register_forward_hook(pop, always_call=True))
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
    return OpCounts(list(counter.records.values()), steps=steps, batch_size=batch_size)
