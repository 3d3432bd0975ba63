"""Firing-rate regularizers from ``train.regularizers``, added to a method's loss.

Each entry names a registered regularizer (``spikeforge list regularizers``), its weight
and, optionally, the spiking layers it watches (module names, as
:func:`~spikeforge.analysis.monitors.spiking_layers` lists them; default every spiking
layer of the model); the other keys are the regularizer's own options::

    train:
      regularizers:
        - {name: l1_rate, weight: 1.0e-3}                    # every spiking layer
        - {name: rate_bounds, weight: 0.1, lower: 0.01, upper: 0.3, layers: [features.3]}

:class:`Regularized` wraps the configured method: while the method runs a training
batch, forward hooks collect each watched layer's spikes ``[T, B, ...]``; the value of
an entry is the sum over its layers (and their calls) of the regularizer (built with
weight 1), and
``weight × value`` is added to ``terms["loss"]``. ``terms["reg_<name>"]`` holds the
value (detached; a name used twice: ``reg_<name>_2``, ...), and the wrapper keeps the
running mean of each value over the epoch in progress (:meth:`Regularized.epoch_values`,
buffers of its ``state_dict``, so a run resumed mid-epoch continues the same mean).
Evaluation (no gradient, model in eval mode) adds nothing: the test loss stays the
objective's.

Entries are checked when the method is built (:func:`regularize`): an unknown name
lists the registered regularizers, an unknown option the regularizer's options, an
unknown layer the model's spiking layers; the weight is a number >= 0. A method that
backpropagates inside itself, step by step (``backpropagates``: ``sltt``, ``ottt``,
``decolle``, ``eprop``), is refused: the trainer never calls backward on its loss, so
the terms would have no effect.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..analysis.monitors import forward_hooks, spiking_layers
from ..losses import REGULARIZERS
from ..methods import Method

#: Keys of a ``train.regularizers`` entry that are not the regularizer's own options.
ENTRY_KEYS = ("name", "weight", "layers")


@dataclass(frozen=True)
class RegularizerEntry:
    """One checked ``train.regularizers`` entry: the regularizer (weight 1), its weight
    in the loss, the spiking layers it watches and the key of its logged value."""

    key: str
    name: str
    weight: float
    layers: tuple[str, ...]
    options: Mapping[str, Any]


def _unwrapped(model: nn.Module) -> nn.Module:
    """The module whose layers run (inside a DistributedDataParallel wrapper, if any)."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        return model.module
    return model


def _regularizer_options(name: str) -> list[str]:
    params = inspect.signature(REGULARIZERS.get(name)).parameters
    return [p for p in params if p != "weight"]


def check_entries(entries: list[Any], model: nn.Module) -> list[RegularizerEntry]:
    """``train.regularizers`` checked against the registry and ``model``'s spiking layers."""
    if not isinstance(entries, list | tuple):
        raise ValueError(f"train.regularizers must be a list of mappings, got {entries!r}")
    layers = [name for name, _ in spiking_layers(_unwrapped(model))]
    checked: list[RegularizerEntry] = []
    keys: dict[str, int] = {}
    for index, entry in enumerate(entries):
        where = f"train.regularizers[{index}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where} must be a mapping {{name: ..., weight: ...}}, got {entry!r}")
        name = entry.get("name")
        if not isinstance(name, str):
            raise ValueError(
                f"{where} needs a name, one of: {', '.join(REGULARIZERS.names())}; got {entry!r}"
            )
        try:
            REGULARIZERS.get(name)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        name = name.lower()
        weight = entry.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight >= 0:
            raise ValueError(f"{where}.weight must be a number >= 0, got {weight!r}")
        if not weight < float("inf"):
            raise ValueError(f"{where}.weight must be finite, got {weight!r}")
        options = {k: v for k, v in entry.items() if k not in ENTRY_KEYS}
        valid = _regularizer_options(name)
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ValueError(
                f"{where}: regularizer {name!r} has no option(s) {', '.join(unknown)}; its "
                f"options: {', '.join(valid) or 'none'} (and {', '.join(ENTRY_KEYS)})"
            )
        try:
            REGULARIZERS.create(name, **options)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where} ({name}): {exc}") from None
        if not layers:
            raise ValueError(
                f"{where} ({name}): the model {type(_unwrapped(model)).__name__} has no "
                "spiking layers to regularize"
            )
        chosen = entry.get("layers")
        if chosen is None:
            chosen = layers
        elif isinstance(chosen, str) or not isinstance(chosen, list | tuple) or not chosen:
            raise ValueError(
                f"{where}.layers must be a non-empty list of spiking layer names (or left "
                f"out: every spiking layer), got {chosen!r}; the model's: {', '.join(layers)}"
            )
        missing = [layer for layer in chosen if layer not in layers]
        if missing:
            raise ValueError(
                f"{where}.layers: {', '.join(map(repr, missing))} "
                f"{'is not a spiking layer' if len(missing) == 1 else 'are not spiking layers'}"
                f" of the model; its spiking layers: {', '.join(layers)}"
            )
        keys[name] = keys.get(name, 0) + 1
        key = f"reg_{name}" if keys[name] == 1 else f"reg_{name}_{keys[name]}"
        checked.append(
            RegularizerEntry(key, name, float(weight), tuple(dict.fromkeys(chosen)), options)
        )
    return checked


class Regularized(Method):
    """``method`` with firing-rate regularizer terms added to its training loss.

    Everything else is the wrapped method's: ``prepare``, ``on_epoch_start``,
    ``backpropagates`` and its other attributes pass through; its parameters (e.g.
    feature-KD adapters) and state are this module's (``state_dict`` keys
    ``method.*``), beside the running sums of the logged values.
    """

    def __init__(self, method: Method, entries: list[RegularizerEntry]) -> None:
        super().__init__()
        if getattr(method, "backpropagates", False):
            raise ValueError(
                f"train.regularizers cannot be added to {type(method).__name__}: it "
                "backpropagates inside itself, step by step, so the trainer never calls "
                "backward on the loss the terms would join; use a method such as bptt"
            )
        if not entries:
            raise ValueError("Regularized needs at least one regularizer entry")
        self.method = method
        # what the engine reads off a method, as the wrapped one says
        self.needs_teacher = method.needs_teacher
        self.needs_pairs = method.needs_pairs
        self.takes_seed = method.takes_seed
        self.entries = list(entries)
        self.regularizers = nn.ModuleList(
            REGULARIZERS.create(e.name, **e.options) for e in self.entries
        )
        # float32: every device has it (MPS has no float64)
        self.register_buffer("value_sums", torch.zeros(len(entries)))
        self.register_buffer("batches", torch.zeros((), dtype=torch.int64))
        self.register_buffer("epoch", torch.full((), -1, dtype=torch.int64))

    # -- what passes through ------------------------------------------------------------
    @property
    def backpropagates(self) -> bool:
        return bool(getattr(self.method, "backpropagates", False))

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            method = self.__dict__.get("_modules", {}).get("method")
            if method is None:
                raise
            return getattr(method, name)

    def prepare(self, model: nn.Module, sample: Callable[[int], torch.Tensor]) -> None:
        self.method.prepare(model, sample)

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        # A run resumed mid-epoch calls this again for the same epoch: keep its sums.
        if int(self.epoch) != epoch:
            self.value_sums.zero_()
            self.batches.zero_()
            self.epoch.fill_(epoch)
        self.method.on_epoch_start(epoch, epochs)

    # -- the terms ----------------------------------------------------------------------
    def forward(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        net = _unwrapped(model)
        if not (net.training and torch.is_grad_enabled()):  # evaluation: the method alone
            return self.method(model, inputs, targets)
        watched = sorted({layer for e in self.entries for layer in e.layers})
        modules = dict(net.named_modules())
        spikes: dict[str, list[torch.Tensor]] = {layer: [] for layer in watched}

        def hook(name: str) -> Callable[..., None]:
            def record(module: nn.Module, args: tuple, output: Any) -> None:
                spikes[name].append(output[0] if isinstance(output, tuple) else output)

            return record

        with forward_hooks([(layer, modules[layer]) for layer in watched], hook):
            terms = dict(self.method(model, inputs, targets))
        loss = terms["loss"]
        values = []
        for entry, regularizer in zip(self.entries, self.regularizers, strict=True):
            value = loss.new_zeros(())
            for layer in entry.layers:
                for recorded in spikes[layer]:
                    value = value + regularizer(recorded).to(value.dtype)
            values.append(value.detach())
            terms[entry.key] = value.detach()
            if entry.weight:
                loss = loss + entry.weight * value
        terms["loss"] = loss
        self.value_sums += torch.stack(values).to(self.value_sums)
        self.batches += 1
        return terms

    def epoch_values(self) -> dict[str, float]:
        """Each regularizer's value averaged over the epoch's training batches so far
        (``{"reg_l1_rate": ...}``; empty before the first batch)."""
        if int(self.batches) == 0:
            return {}
        means = (self.value_sums / int(self.batches)).tolist()
        return {e.key: float(v) for e, v in zip(self.entries, means, strict=True)}

    def extra_repr(self) -> str:
        shown = (f"{e.key}: weight={e.weight}, layers={list(e.layers)}" for e in self.entries)
        return ", ".join(shown)


def regularize(method: Method, entries: list[Any], model: nn.Module) -> Method:
    """``method`` wrapped by :class:`Regularized` for the ``train.regularizers`` entries
    (checked against ``model``); ``method`` itself when there are none."""
    if not entries:
        return method
    return Regularized(method, check_entries(entries, model))
