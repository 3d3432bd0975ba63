r"""Spike-aware saved tensors: a training step that keeps spikes as bits and does not keep
batch-norm outputs, with gradients bit-identical to plain autograd's (issue #22, items 1
and 2).

Inside ``with compact_activations(model) as stats:`` every tensor autograd saves for
backward passes through :func:`torch.autograd.graph.saved_tensors_hooks`:

- **Spikes as bits.** A saved floating tensor whose elements are all ``+0.0`` or one
  common value ``s`` (0/1 spikes; graded spikes ``λ·S``) is stored as one bit per element
  plus ``s`` (:func:`pack_spikes`; the C kernel ``kernels/cpu/bits.c`` decides and packs
  in one pass and gives up at the first chunk holding a third value, so a conv output
  costs a look at its first 256 elements). Found by value, so no layer declares
  anything: a conv, linear, pooling or matmul whose input is spikes saves 1 bit per
  element instead of 32 (float32). Unpacking in backward writes exactly the same values,
  dtype, shape and strides. Not packed: tensors under :data:`MIN_ELEMENTS` elements, the
  model's parameters and buffers (they stay alive anyway: a packed copy would only add
  memory), tensors that are not dense in memory (slices with gaps, broadcast views).
- **Batch-norm outputs not kept, rebuilt by the neuron.** Where a fused CPU LIF neuron
  takes a stock batch norm's training output as its input, it saves batch norm's input
  instead (kept by batch norm anyway) with the per-channel affine, and its backward
  kernel rebuilds the output block by block in cache (:func:`.bn_exact.neuron_affine`,
  checked bit for bit once per module and layout; ``fuse_neurons=False`` turns it off).
- **Other batch-norm outputs recomputed.** Every :class:`torch.nn.modules.batchnorm._BatchNorm`
  in ``model`` (tdBN included; not ``SyncBatchNorm``, whose forward communicates) records,
  after each forward with grad enabled, ``output storage -> (module, input)``. When
  autograd then saves a tensor living in a recorded output's storage (the neuron after
  BN saves its input, often as a ``[T, B, ...]`` view of the ``[T·B, ...]`` output), a
  token is kept instead, and backward recomputes the output: the module's own
  ``forward`` on the recorded input, under ``torch.no_grad``, with the training flag of
  the original forward and on *copies* of its buffers (so running statistics are
  updated once, by the real forward, and the buffers autograd saved keep their
  versions), then the saved view is cut from it with ``as_strided``. A stock batch
  norm that used batch statistics on the CPU is recomputed in one pass instead, from
  the batch mean and ``1/std`` on its autograd node, through eval mode's affine code
  (:func:`_from_batch_statistics`; checked bit for bit against the forward once per
  module and layout, the forward used if they differ). The token costs
  no memory: the input it holds is the tensor batch norm saves for its own backward
  anyway (if that input was stored as bits, the token holds the bits). Not recorded:
  forwards under autocast (backward would recompute outside it).

Exactness: the same kernels run on the same values in the same order (CPU batch norm is
deterministic at a fixed thread count; do not change ``torch.set_num_threads`` between a
forward and its backward). Autograd's check that a saved tensor was not modified in
place after saving (which any ``saved_tensors_hooks`` switches off) is kept for the
tensors stored unchanged and for a recomputation's input; a packed tensor holds its
values as they were at saving, which is what autograd would have used.

Only the forward pass must run inside the context; backward may run after it exits
(the tokens hold all they need). Nested contexts work; tensors are saved through the
innermost one. Counting (:class:`MemoryStats`) covers what is saved while the context is
active. Stays out of the way of ``torch.no_grad``/eval forwards (nothing is saved).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..kernels.cpu import bits
from ..kernels.cpu import lif as lif_kernel
from . import bn_exact

MIN_ELEMENTS = 4096  # smaller saved tensors are kept as they are: packing costs more


@dataclass
class MemoryStats:
    """What :func:`compact_activations` did, counted while the context is active.

    Attributes:
        tensors_packed: saved tensors stored as bits (one per distinct tensor packed).
        bytes_before: bytes of the distinct storages autograd would have kept for
            backward (the model's parameters and buffers excluded: they are kept anyway).
        bytes_after: bytes kept instead: storages saved unchanged plus packed bits
            (a batch-norm token adds nothing, see the module docstring).
        bn_recomputed: saved batch-norm outputs replaced by a recomputation token.
        bn_fused: batch-norm outputs a fused LIF neuron did not save: it saved batch
            norm's input and rebuilds the output in its backward kernel (``bn_exact``).
        tensors_seen: saved tensors that went through the hooks.
        recomputations: batch-norm forwards run again in backward (filled in backward,
            which may come after the context has exited).
    """

    tensors_packed: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    bn_recomputed: int = 0
    bn_fused: int = 0
    tensors_seen: int = 0
    recomputations: int = 0

    @property
    def ratio(self) -> float:
        """``bytes_after / bytes_before`` (1.0 when nothing was saved)."""
        return self.bytes_after / self.bytes_before if self.bytes_before else 1.0


@dataclass(frozen=True, eq=False)
class PackedSpikes:
    """A spike-valued tensor as bits (see :func:`pack_spikes`).

    Attributes:
        bits: ``[ceil(n / 8)]`` uint8, element ``i`` (in memory order) is bit ``i % 8`` of
            byte ``i // 8``.
        pattern: the common nonzero value's bit pattern (unsigned; 0 if all zero).
        shape, stride: the original tensor's.
        order: the dimensions from outermost to innermost in memory (``t.permute(order)``
            is contiguous), or ``None`` when ``t`` was contiguous.
        dtype: the original floating dtype.
    """

    bits: torch.Tensor
    pattern: int
    shape: torch.Size
    stride: tuple[int, ...]
    order: tuple[int, ...] | None
    dtype: torch.dtype

    @property
    def numel(self) -> int:
        """Elements of the original tensor."""
        return self.shape.numel()

    @property
    def nbytes(self) -> int:
        """Bytes this packed form keeps (the bits)."""
        return self.bits.numel()

    @property
    def value(self) -> float:
        """The common nonzero value ``s`` (0.0 for an all-zero tensor)."""
        fmt = bits.FORMATS[self.dtype]
        word = torch.tensor([bits._signed(self.pattern, fmt.width)], dtype=fmt.int_dtype)
        return float(word.view(self.dtype)[0])


def _memory_order(t: torch.Tensor) -> tuple[int, ...] | None:
    """Dims outermost-first in memory if ``t`` is dense but not contiguous, else ``None``."""
    order = tuple(sorted(range(t.dim()), key=lambda d: -t.stride(d)))
    return order if t.permute(order).is_contiguous() else None


def pack_spikes(t: torch.Tensor) -> PackedSpikes | None:
    """``t`` (any shape, float32/float64/float16/bfloat16) as bits, or ``None`` when it is
    not spike-valued: some element is neither ``+0.0`` nor the first nonzero value ``s``,
    or ``s`` is ``-0.0``, infinite or NaN. Also ``None`` for other dtypes, sparse tensors
    and tensors that are not dense in memory (slices with gaps, broadcast views). CPU
    tensors use the C kernel (a vectorised torch fallback elsewhere or without it)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"pack_spikes takes a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in bits.FORMATS or t.layout != torch.strided or t.is_quantized:
        return None
    data = t.detach()
    order: tuple[int, ...] | None = None
    if not data.is_contiguous():
        order = _memory_order(data)
        if order is None:  # gaps or overlaps in memory
            return None
        data = data.permute(order)  # contiguous: the same memory, read in its own order
    with torch.no_grad():
        packed = bits.pack(data)
    if packed is None:
        return None
    return PackedSpikes(packed[0], packed[1], t.shape, tuple(t.stride()), order, t.dtype)


def unpack_spikes(p: PackedSpikes) -> torch.Tensor:
    """The tensor :func:`pack_spikes` packed: the same values, dtype, shape and strides
    (a fresh tensor, storage offset 0, not requiring grad)."""
    if not isinstance(p, PackedSpikes):
        raise TypeError(f"unpack_spikes takes a PackedSpikes, got {type(p).__name__}")
    flat = bits.unpack(p.bits, p.numel, p.pattern, p.dtype)
    if p.order is None:
        return flat.view(p.shape)
    permuted = flat.view([p.shape[d] for d in p.order])
    inverse = [0] * len(p.order)
    for i, d in enumerate(p.order):
        inverse[d] = i
    return permuted.permute(inverse)


# --- what the pack hook returns besides PackedSpikes -------------------------------------


class _Kept:
    """A saved tensor stored unchanged, with the version it had when saved."""

    __slots__ = ("tensor", "version")

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor
        self.version = tensor._version

    def get(self) -> torch.Tensor:
        _check_version(self.tensor, self.version, "a tensor saved for backward")
        return self.tensor


def _check_version(t: torch.Tensor, saved: int, what: str) -> None:
    # what autograd checks itself without saved-tensor hooks
    if t._version != saved:
        raise RuntimeError(
            f"{what} (shape {list(t.shape)}) was modified by an in-place operation after "
            f"it was saved: expected version {saved}, found version {t._version}"
        )


class _BNSource:
    """One recorded batch-norm call: how to compute its output again."""

    __slots__ = (
        "batch_stats",
        "dtype",
        "held",
        "input",
        "input_version",
        "module",
        "nbytes",
        "served",
        "stats",
        "tokens",
        "training",
    )

    def __init__(
        self,
        module: _BatchNorm,
        source: torch.Tensor | PackedSpikes,
        input_version: int,
        output: torch.Tensor,
        stats: MemoryStats,
    ) -> None:
        self.module = module
        self.input = source
        self.input_version = input_version
        self.training = module.training
        self.nbytes = output.untyped_storage().nbytes()
        self.dtype = output.dtype
        self.stats = stats
        # Several saved tensors may live in one output (y * y saves it twice): the first
        # unpack's recomputation is held for the others and dropped after the last.
        self.tokens = 0
        self.served = 0
        self.held: torch.Tensor | None = None
        # a stock CPU batch norm's batch mean and 1/std: they spare the recomputation a
        # statistics pass
        self.batch_stats = bn_exact.batch_statistics(output, module)

    def output(self) -> torch.Tensor:
        """The output, recomputed (or held from the unpack of another of its tokens)."""
        out = self.held if self.held is not None else self._recompute()
        self.served += 1
        self.held = out if self.served % self.tokens else None
        return out

    def _recompute(self) -> torch.Tensor:
        with torch.no_grad():
            if isinstance(self.input, PackedSpikes):
                inp = unpack_spikes(self.input)
            else:
                inp = self.input
                _check_version(inp, self.input_version, "a batch-norm input")
            out = None
            if self.batch_stats is not None:
                out = _from_batch_statistics(self.module, self.batch_stats, inp, self.training)
            if out is None:
                out = _run_on_copies(self.module, inp, self.training)
        if out.dtype != self.dtype or out.untyped_storage().nbytes() != self.nbytes:
            raise RuntimeError(
                f"recomputing {type(self.module).__name__}'s output gave {out.dtype} with "
                f"{out.untyped_storage().nbytes()} storage bytes, expected {self.dtype} with "
                f"{self.nbytes}: its forward is not repeatable"
            )
        self.stats.recomputations += 1
        return out


def _run_on_copies(module: _BatchNorm, inp: torch.Tensor, training: bool) -> torch.Tensor:
    """``module.forward(inp)`` in the given mode, on copies of its buffers; the module's
    own buffers and flag are left exactly as they were (the tensors themselves are put
    back, untouched, so autograd's saved running statistics keep their versions)."""
    buffers = dict(module._buffers)
    was_training = module.training
    try:
        for name, buf in buffers.items():
            if buf is not None:
                module._buffers[name] = buf.clone()
        module.training = training
        return module.forward(inp)  # not module(inp): no hooks, no second record
    finally:
        module.training = was_training
        module._buffers.update(buffers)


# module -> {(shape, strides, dtype, threads): whether the one-pass recomputation was
# found bit-identical to the module's forward}; checked once per key, see below
_VERIFIED: weakref.WeakKeyDictionary[nn.Module, dict[tuple[Any, ...], bool]]
_VERIFIED = weakref.WeakKeyDictionary()


def _from_batch_statistics(
    module: _BatchNorm, batch_stats: tuple[Any, ...], inp: torch.Tensor, training: bool
) -> torch.Tensor | None:
    """Batch norm's training output in one pass, or ``None`` where that is not possible.

    The training forward computes the batch mean and ``1/sqrt(var + eps)`` (saved on its
    autograd node), then ``x * α + β`` per channel. Eval mode runs the same affine code
    from ``running_mean`` and ``1/sqrt(running_var + eps)``; so with the batch mean and a
    ``var'`` that gives exactly the training scale (found by asking batch norm itself,
    :func:`.bn_exact.matching_scale`), eval mode reproduces the training output without the
    two statistics passes (the training forward reads its input three times: mean,
    variance, output; this reads it once). The first use per module and
    input layout (shape, strides, dtype, thread count) is checked against the module's
    own forward, which is used from then on if they differ in a single bit."""
    key = (tuple(inp.shape), tuple(inp.stride()), inp.dtype, torch.get_num_threads())
    verdicts = _VERIFIED.setdefault(module, {})
    if verdicts.get(key) is False:
        return None
    mean, invstd, eps = batch_stats
    var, weight, found = bn_exact.matching_scale(invstd, eps, module.weight)
    if not bool(found.all()):
        return None
    out = torch.nn.functional.batch_norm(inp, mean, var, weight, module.bias, False, 0.0, eps)
    if key not in verdicts:
        full = _run_on_copies(module, inp, training)
        verdicts[key] = torch.equal(out, full) and out.stride() == full.stride()
        return full
    return out


class _BNToken:
    """Stands for a saved tensor that lives in a recorded batch-norm output."""

    __slots__ = ("offset", "size", "source", "stride")

    def __init__(self, source: _BNSource, t: torch.Tensor) -> None:
        self.source = source
        source.tokens += 1
        self.size = tuple(t.shape)
        self.stride = tuple(t.stride())
        self.offset = t.storage_offset()

    def get(self) -> torch.Tensor:
        return self.source.output().as_strided(self.size, self.stride, self.offset)


def _unpack(obj: Any) -> torch.Tensor:
    """The unpack hook (module level: backward may run after the context has exited)."""
    if isinstance(obj, PackedSpikes):
        return unpack_spikes(obj)
    return obj.get()


# --- the context ---------------------------------------------------------------------------


def _holder(t: torch.Tensor) -> torch.Tensor:
    """The tensor whose life keeps ``t``'s storage alive: its base for a view."""
    return t._base if t._base is not None else t


@dataclass
class _Record:
    """A batch-norm output seen during forward (weakly: it may die unsaved)."""

    output: weakref.ref[torch.Tensor]
    version: int
    module: _BatchNorm
    # Weak: a checkpointed block does not keep its batch norms' inputs, and a record
    # must not keep them either. Where batch norm saved its input (or a view of it: tdBN
    # folds time first) the input's base is alive, and the input is that base viewed
    # through ``input_view`` (size, stride, offset).
    input: weakref.ref[torch.Tensor]
    input_view: tuple[tuple[int, ...], tuple[int, ...], int] | None
    input_version: int
    packed: PackedSpikes | None  # the input as bits, if batch norm saved it that way
    source: _BNSource | None = None  # made at the first token, shared by later ones


_PLAIN = (torch.Tensor,)  # nn.Parameter is a subclass: parameters are never packed


class _Session:
    """The state of one ``compact_activations`` context."""

    def __init__(self, model: nn.Module, spikes: bool, batch_norm: bool, fuse: bool) -> None:
        self.spikes, self.batch_norm = spikes, batch_norm
        self.stats = MemoryStats()
        self.pinned = {
            t.untyped_storage().data_ptr()
            for t in (*model.parameters(), *model.buffers())
            if t.device.type != "meta"
        }
        self.records: dict[int, _Record] = {}  # output storage pointer -> record
        self.extra: set[int] = set()  # storages saved only because of the fusion (α, β)
        # storage pointer -> (who keeps the storage alive, bytes); validated by the weakref
        self.before: dict[int, tuple[weakref.ref[torch.Tensor], int]] = {}
        self.kept: dict[int, tuple[weakref.ref[torch.Tensor], int]] = {}
        self.packed: dict[tuple[Any, ...], tuple[weakref.ref[torch.Tensor], int, PackedSpikes]]
        self.packed = {}
        self.handles: list[torch.utils.hooks.RemovableHandle] = []
        if batch_norm:
            for m in model.modules():
                if isinstance(m, _BatchNorm) and not isinstance(m, nn.SyncBatchNorm):
                    self.handles.append(m.register_forward_hook(self._record, prepend=True))
        self.fuse = batch_norm and fuse
        if self.fuse:
            lif_kernel.BN_SOURCES.append(self._bn_affine)

    def close(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()
        if self.fuse:
            lif_kernel.BN_SOURCES.remove(self._bn_affine)
        self.records.clear()
        self.extra.clear()
        self.before.clear()
        self.kept.clear()
        self.packed.clear()

    # forward hook on batch norms
    def _record(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if not torch.is_grad_enabled() or not args or not isinstance(output, torch.Tensor):
            return
        inp = args[0]
        if not isinstance(inp, torch.Tensor) or torch.is_autocast_enabled(inp.device.type):
            return
        if not (inp.requires_grad or any(p.requires_grad for p in module.parameters(False))):
            return  # batch norm saves nothing, so the token would keep its input alive
        assert isinstance(module, _BatchNorm)
        # batch norm has saved its input by now: as bits if it was spike-valued
        found = self.packed.get(self._key(inp))
        packed = found[2] if found is not None and found[0]() is not None else None
        base, view = inp, None
        if inp._base is not None and inp._base.dtype == inp.dtype:
            base, view = inp._base, (tuple(inp.shape), inp.stride(), inp.storage_offset())
        ptr = output.untyped_storage().data_ptr()
        self.records[ptr] = _Record(
            weakref.ref(output), output._version, module, weakref.ref(base), view,
            inp._version, packed,
        )  # fmt: skip

    @staticmethod
    def _seen(table: dict[int, tuple[weakref.ref[torch.Tensor], int]], t: torch.Tensor) -> int:
        """Add ``t``'s storage to ``table`` unless already there; the bytes newly added."""
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        entry = table.get(ptr)
        if entry is not None and entry[0]() is not None:
            return 0
        table[ptr] = (weakref.ref(_holder(t)), storage.nbytes())
        return storage.nbytes()

    def _token(self, t: torch.Tensor) -> _BNToken | None:
        ptr = t.untyped_storage().data_ptr()
        rec = self.records.get(ptr)
        if rec is None:
            return None
        out = rec.output()
        if out is None or out.untyped_storage().data_ptr() != ptr or out._version != rec.version:
            return None  # died (its address reused) or modified in place since
        if t._version != rec.version:
            return None
        if rec.source is None:
            held: torch.Tensor | PackedSpikes | None = rec.packed or rec.input()
            if held is None:
                return None  # the input was not kept (a checkpointed block): keep t
            if rec.packed is None and rec.input_view is not None:
                held = held.detach().as_strided(*rec.input_view)
            rec.source = _BNSource(rec.module, held, rec.input_version, out, self.stats)
        return _BNToken(rec.source, t)

    def _bn_affine(self, x: torch.Tensor) -> lif_kernel.BNAffine | None:
        """The resolver a fused LIF neuron asks about its input ``x`` (see
        :data:`~spikeforge.kernels.cpu.lif.BN_SOURCES`)."""
        ptr = x.untyped_storage().data_ptr()
        rec = self.records.get(ptr)
        if rec is None or rec.packed is not None or x._version != rec.version:
            return None
        out, inp = rec.output(), rec.input()
        if out is None or inp is None or out.untyped_storage().data_ptr() != ptr:
            return None
        if rec.input_view is not None:
            inp = inp.detach().as_strided(*rec.input_view)
        found = bn_exact.neuron_affine(rec.module, out, inp, x)
        if found is not None:
            self.stats.bn_fused += 1
            self.stats.bytes_before += self._seen(self.before, x)  # what it would have kept
            # α and β [C] are saved on top of what plain autograd keeps: counted as kept only
            self.extra.update(t.untyped_storage().data_ptr() for t in found[1:3])
        return found

    @staticmethod
    def _key(t: torch.Tensor) -> tuple[Any, ...]:
        return (
            t.untyped_storage().data_ptr(),
            t.storage_offset(),
            tuple(t.shape),
            tuple(t.stride()),
            t.dtype,
        )

    def _pack_spikes(self, t: torch.Tensor) -> PackedSpikes | None:
        if t.numel() < MIN_ELEMENTS or t.dtype not in bits.FORMATS:
            return None
        key = self._key(t)
        found = self.packed.get(key)
        if found is not None and found[0]() is not None and found[1] == t._version:
            return found[2]  # the same tensor saved again (by another layer): share the bits
        p = pack_spikes(t)
        if p is not None:
            self.packed[key] = (weakref.ref(_holder(t)), t._version, p)
            self.stats.tensors_packed += 1
            self.stats.bytes_after += p.nbytes
        return p

    # the pack hook
    def pack(self, t: torch.Tensor) -> Any:
        with torch.no_grad():
            if t.layout != torch.strided or t.device.type == "meta" or type(t) not in _PLAIN:
                return _Kept(t)  # sparse, fake or subclass tensors: not ours to look into
            if t.untyped_storage().data_ptr() in self.pinned:
                return _Kept(t)
            stats = self.stats
            if t.untyped_storage().data_ptr() in self.extra:
                stats.bytes_after += self._seen(self.kept, t)
                return _Kept(t)
            stats.tensors_seen += 1
            stats.bytes_before += self._seen(self.before, t)
            if self.batch_norm and (token := self._token(t)) is not None:
                stats.bn_recomputed += 1
                return token
            if self.spikes and (p := self._pack_spikes(t)) is not None:
                return p
            stats.bytes_after += self._seen(self.kept, t)
            return _Kept(t)


@contextlib.contextmanager
def compact_activations(
    model: nn.Module, spikes: bool = True, batch_norm: bool = True, fuse_neurons: bool = True
) -> Iterator[MemoryStats]:
    """Inside the context, autograd saves spike-valued tensors as bits and does not keep
    BatchNorm outputs (they are recomputed from BN's input, which BN saves anyway, in
    backward). Only the forward pass must run inside; backward may run after the context
    exits. Gradients are bit-identical to a run without it.

    Args:
        model: the module whose forward runs inside; its batch norms are hooked and its
            parameters and buffers are never packed.
        spikes: store spike-valued saved tensors as bits.
        batch_norm: recompute saved batch-norm outputs in backward.
        fuse_neurons: with ``batch_norm``, a fused CPU LIF neuron right after a batch norm
            rebuilds its input in its own backward kernel (:mod:`.bn_exact`) instead of
            batch norm's output being recomputed for it; ``False`` keeps the separate
            recomputation (for comparison).

    Yields:
        the :class:`MemoryStats` of this context, filled as tensors are saved.

    Works on any input layout (``[T, B, ...]`` or folded ``[T·B, ...]``): what is saved is
    decided per tensor, by value. See the module docstring for what is skipped.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"compact_activations takes an nn.Module, got {type(model).__name__}")
    for name, flag in (
        ("spikes", spikes),
        ("batch_norm", batch_norm),
        ("fuse_neurons", fuse_neurons),
    ):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    session = _Session(model, spikes, batch_norm, fuse_neurons)
    try:
        with torch.autograd.graph.saved_tensors_hooks(session.pack, _unpack):
            yield session.stats
    finally:
        session.close()
