r"""Block-level activation recomputation (checkpointing) for spiking models, exact.

Inside ``with checkpoint_blocks(model):`` a forward keeps, of each *block*, only the
block's input for backward; the block's inside is run again during backward
(:func:`torch.utils.checkpoint.checkpoint`, non-reentrant). The gradients are
bit-identical to plain autograd's: the recomputation runs the same operations on the
same values, and three things that could make it differ are handled —

- **batch-norm running statistics** (and every other buffer of the block) would be
  updated a second time by the recomputation: each block's buffers are copied when its
  forward starts, and the recomputation runs on fresh copies of those values, which are
  thrown away afterwards; the model's own buffers are updated exactly once;
- **random numbers** (dropout): ``checkpoint`` replays the CPU (and CUDA) generator
  state of the forward and restores the generator afterwards, so the global random
  stream continues as if nothing had been recomputed;
- **neuron state**: every ``neuron(x)`` starts from rest (:mod:`spikeforge.neurons.base`),
  so a block run twice gives the same spikes twice. Code that makes neurons carry state
  from call to call (step-by-step training, ``methods/online.py``) cannot be
  recomputed; the trainer refuses that combination.

What a block is (found from the module tree alone, so any model built the zoo's way is
covered; the layering forbids naming the zoo's classes here):

- a **unit**: a module that is a child of an ``nn.Sequential``, is neither a plain
  Sequential (a subclass with a forward of its own counts as a unit) nor a neuron, and
  holds a spiking neuron somewhere inside — the residual blocks of the Spiking/SEW/MS/OR
  ResNets (``layer1[0]``, ...) and the Spikformer (v1 and V2) encoder blocks; it is
  recomputed whole (its own forward: the residual join included);
- a **group**: inside an ``nn.Sequential``, a run of consecutive children that ends at
  a spiking neuron (``Conv-BN, LIF`` in ``csnn_tiny``; ``pool, Conv-BN, LIF`` in VGG;
  a ResNet's stem). Children after the last neuron (the readout) and modules marked
  ``runs_whole_sequence`` (equilibrium, e-prop networks: they keep time themselves) are
  left as they are.

Why a context manager and not a wrapped model: the model is not changed — its
``state_dict`` keys, ``repr``, pickling, evaluation and export stay those of the plain
model — and the recomputation applies only to the forwards run inside the block, which
is exactly the training step. It works by setting, for the duration, an instance
``forward`` on each unit and on each Sequential that has groups; the originals are put
back on exit. A backward after the exit still recomputes correctly (the recomputation
holds the original forwards). Under ``torch.no_grad`` nothing is checkpointed.

Memory: what autograd keeps is one input per block instead of every activation inside;
the recomputation holds one block's activations at a time during backward. Compute: at
most one extra forward of every block.

:func:`memory_mode` is what the config key ``train.memory`` puts around a training
step's forward: ``full``, ``compact`` (:func:`~spikeforge.layers.memory.compact_activations`)
or ``checkpoint`` (compact and :func:`checkpoint_blocks`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .._validation import check_choice
from ..kernels.cpu import lif as lif_kernel
from ..neurons.base import SpikingNeuron
from .memory import MemoryStats, compact_activations

#: Instance attribute marking a module whose forward this context has replaced.
_MARK = "_spikeforge_recompute"

#: What :func:`memory_mode` (and the config key ``train.memory``) accepts.
MEMORY_MODES = ("full", "compact", "checkpoint")


@dataclass
class RecomputePlan:
    """What :func:`checkpoint_blocks` recomputes, by qualified module name.

    Attributes:
        units: modules recomputed whole (e.g. ``["layer1.0", "layer1.1", ...]``).
        groups: runs of Sequential children recomputed together, each ending at a
            neuron (e.g. ``[("0", "1"), ("2", "3")]`` for ``csnn_tiny``).
    """

    units: list[str] = field(default_factory=list)
    groups: list[tuple[str, ...]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.units) + len(self.groups)


def _whole_sequence(module: nn.Module) -> bool:
    return bool(getattr(module, "runs_whole_sequence", False))


def _holds_neuron(module: nn.Module) -> bool:
    return any(isinstance(m, SpikingNeuron) for m in module.modules())


def _opaque(module: nn.Module) -> bool:
    """Never inside a checkpoint: it keeps time itself (or holds such a module)."""
    return any(_whole_sequence(m) for m in module.modules())


def _plain_sequential(module: nn.Module) -> bool:
    """An ``nn.Sequential`` that runs its children in order (a subclass with a forward
    of its own is treated like any other module)."""
    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


# A Sequential's children after planning: a child run as is, or a group to checkpoint.
_Segment = nn.Module | tuple[nn.Module, ...]


def _plan_sequential(
    seq: nn.Sequential, prefix: str, plan: RecomputePlan, found: list[tuple[nn.Module, Any]]
) -> None:
    segments: list[_Segment] = []
    pending: list[tuple[str, nn.Module]] = []  # plain children waiting for a neuron
    grouped = False
    # _modules, not named_children(): a module listed twice runs twice, as in Sequential
    for name, child in seq._modules.items():
        if child is None:
            continue
        qualified = _join(prefix, name)
        if isinstance(child, SpikingNeuron) and not _opaque(child):
            run = (*(m for _, m in pending), child)
            segments.append(run)
            plan.groups.append((*(n for n, _ in pending), qualified))
            pending, grouped = [], True
            continue
        if not _holds_neuron(child) and not _opaque(child):
            pending.append((qualified, child))  # conv, BN, pooling, dropout: joins the next group
            continue
        # a barrier: the plain children before it stay outside any group
        segments.extend(m for _, m in pending)
        pending = []
        segments.append(child)
        if _plain_sequential(child):
            _plan_sequential(child, qualified, plan, found)
        elif _opaque(child) and not _whole_sequence(child):
            _plan_children(child, qualified, plan, found)
        elif not _opaque(child):
            plan.units.append(qualified)
            found.append((child, None))
    segments.extend(m for _, m in pending)  # the tail after the last neuron: the readout
    if grouped:
        found.append((seq, segments))


def _plan_children(
    module: nn.Module, prefix: str, plan: RecomputePlan, found: list[tuple[nn.Module, Any]]
) -> None:
    """Descend into a module that is not itself recomputed."""
    for name, child in module.named_children():
        if _whole_sequence(child) or not _holds_neuron(child):
            continue
        if _plain_sequential(child):
            _plan_sequential(child, _join(prefix, name), plan, found)
        else:
            _plan_children(child, _join(prefix, name), plan, found)


def _plan(model: nn.Module) -> tuple[RecomputePlan, list[tuple[nn.Module, Any]]]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"checkpoint_blocks expects an nn.Module, got {type(model).__name__}")
    plan = RecomputePlan()
    found: list[tuple[nn.Module, Any]] = []
    if _plain_sequential(model) and not _whole_sequence(model):
        _plan_sequential(model, "", plan, found)
    elif not _whole_sequence(model):
        _plan_children(model, "", plan, found)
    return plan, found


def plan_recompute(model: nn.Module) -> RecomputePlan:
    """Which blocks of ``model`` :func:`checkpoint_blocks` would recompute (see the
    module docstring); the model is not touched."""
    return _plan(model)[0]


class _BufferSnapshot:
    """The block's buffers as they were when its forward started.

    The recomputation runs on copies of these values (so batch norm normalises and
    updates exactly as in the forward, and the update lands in a copy that is dropped);
    the live buffers, already updated once by the forward, are put back afterwards.
    """

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        self.entries: list[tuple[nn.Module, str, torch.Tensor]] = []
        seen: set[int] = set()
        for top in modules:
            for module in top.modules():
                if id(module) in seen:
                    continue
                seen.add(id(module))
                for name, buffer in module._buffers.items():
                    if buffer is not None:
                        self.entries.append((module, name, buffer.detach().clone()))

    def contexts(self) -> tuple[contextlib.AbstractContextManager[None], Any]:
        """``context_fn`` of :func:`torch.utils.checkpoint.checkpoint`. Neither run fuses
        batch norm into a neuron (``compact``'s fusion saves batch norm's input, which a
        checkpointed block does not keep; both runs must save the same)."""
        return lif_kernel.no_bn_fusion(), self._recomputing()

    @contextlib.contextmanager
    def _recomputing(self) -> Iterator[None]:
        live = [(module, name, module._buffers[name]) for module, name, _ in self.entries]
        for module, name, value in self.entries:
            # a copy per recomputation: a second backward (retain_graph) starts clean too
            module._buffers[name] = value.clone()
        try:
            with lif_kernel.no_bn_fusion():
                yield
        finally:  # also when checkpoint stops the recomputation early (an exception)
            for module, name, buffer in live:
                module._buffers[name] = buffer


def _run(function: Callable[..., Any], modules: Sequence[nn.Module], *args: Any) -> Any:
    """``function(*args)``, checkpointed when autograd records."""
    if not torch.is_grad_enabled():
        return function(*args)
    snapshot = _BufferSnapshot(modules)
    return checkpoint(
        function, *args, use_reentrant=False, preserve_rng_state=True, context_fn=snapshot.contexts
    )


def _chain(modules: tuple[nn.Module, ...], x: Any) -> Any:
    for module in modules:
        x = module(x)
    return x


def _unit_forward(unit: nn.Module, original: Callable[..., Any]) -> Callable[..., Any]:
    def forward(*args: Any, **kwargs: Any) -> Any:
        if kwargs:  # checkpoint passes keyword arguments through; bind them here
            return _run(partial(original, **kwargs), (unit,), *args)
        return _run(original, (unit,), *args)

    return forward


def _sequential_forward(segments: list[_Segment]) -> Callable[[Any], Any]:
    def forward(x: Any) -> Any:
        # nn.Sequential.forward, with each group run as one checkpointed call
        for segment in segments:
            if isinstance(segment, tuple):
                x = _run(partial(_chain, segment), segment, x)
            else:
                x = segment(x)
        return x

    return forward


@contextlib.contextmanager
def checkpoint_blocks(model: nn.Module) -> Iterator[RecomputePlan]:
    """Recompute ``model``'s blocks in backward instead of keeping their activations.

    Usage::

        with checkpoint_blocks(model):
            loss = objective(model(x), y)   # x [T, B, ...] -> outputs [T, B, C]
        loss.backward()                     # may run after the block: still exact

    Args:
        model: any module; its units and neuron-ending groups are found by
            :func:`plan_recompute` (the module docstring says which).

    Yields:
        The :class:`RecomputePlan` applied (empty for a model with no block: nothing
        changes then).

    Raises:
        RuntimeError: the context is already active on one of these modules.
    """
    plan, found = _plan(model)
    patched: list[tuple[nn.Module, Any]] = []
    try:
        for module, segments in found:
            if any(module is done for done, _ in patched):
                continue  # one module at two places in the model: patched once
            if getattr(module, _MARK, False):
                raise RuntimeError(
                    f"checkpoint_blocks is already active on {type(module).__name__} "
                    "(nested use): enter it once per model"
                )
            previous = module.__dict__.get("forward")  # an instance forward set by others
            original = module.forward
            replacement = (
                _unit_forward(module, original)
                if segments is None
                else _sequential_forward(segments)
            )
            module.forward = replacement  # type: ignore[method-assign]
            setattr(module, _MARK, True)
            patched.append((module, previous))
        yield plan
    finally:
        for module, previous in reversed(patched):
            module.__dict__.pop(_MARK, None)
            if previous is None:
                module.__dict__.pop("forward", None)
            else:
                module.forward = previous  # type: ignore[method-assign]


@contextlib.contextmanager
def memory_mode(model: nn.Module, mode: str) -> Iterator[MemoryStats | None]:
    """What the forward of a training step keeps for backward (``train.memory``); the
    gradients are bit-identical in all three modes.

    Args:
        model: the module whose forward runs inside (for a ``DistributedDataParallel``
            wrapper, the module it wraps).
        mode: ``"full"``: plain autograd; ``"compact"``: spike-valued saved tensors kept
            as bits and batch-norm outputs not kept: a fused LIF neuron rebuilds its
            input in its backward kernel, others are recomputed
            (:func:`~spikeforge.layers.memory.compact_activations`); ``"checkpoint"``:
            compact, and every block recomputed in backward from its input
            (:func:`checkpoint_blocks`; the block inputs are what compact then packs).

    Yields:
        The :class:`~spikeforge.layers.memory.MemoryStats` of the compact context
        (``None`` for ``"full"``).

    Only the forward must run inside; backward may run after the context exits.
    """
    check_choice(mode, "memory mode", MEMORY_MODES)
    if mode == "full":
        yield None
        return
    # Checkpointing inside compact: a block's saved tensors go to the checkpoint (its
    # hooks are the innermost), the block inputs it keeps go through compact's hooks.
    with compact_activations(model) as stats:
        if mode == "checkpoint":
            with checkpoint_blocks(model):
                yield stats
        else:
            yield stats
