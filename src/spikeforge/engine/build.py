"""Build the pieces of a run from a :class:`~spikeforge.engine.config.Config`.

The output contract (:func:`check_readout`, :func:`build_decoder`): the objective and
the decoder must read what the model's outputs are (its declared readout kind, see
:mod:`spikeforge.models.output`); a pair that does not fit is refused here, at build
time, naming both and the fix. ``model.decoder`` (``None``: the objective's own
readout) is what scores accuracy in the trainer, ``spikeforge eval`` and ``spikeforge
energy``.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from ..data import load_dataset
from ..encoding import DECODERS, ENCODERS, READOUT_KINDS
from ..encoding.decoders import MembraneDecoder
from ..losses import OBJECTIVES
from ..models import create
from ..models.output import readout_classes, readout_kind, readout_population
from ..surrogates import resolve_surrogate
from .config import Config


def build_datasets(config: Config) -> tuple[Dataset, Dataset]:
    """``(train, test)`` datasets named by ``config.data``."""
    d = config.data
    return tuple(  # type: ignore[return-value]
        load_dataset(d.name, split, d.data_dir, **d.options) for split in ("train", "test")
    )


def num_classes_of(dataset: Dataset) -> int:
    classes = getattr(dataset, "classes", None)
    if classes:
        return len(classes)
    return int(torch.as_tensor(dataset.labels).max()) + 1  # type: ignore[attr-defined]


def build_model(config: Config, dataset: Dataset) -> nn.Module:
    """The registered model, sized from a sample of ``dataset``.

    ``model.surrogate`` (a name or a mapping ``{name: atan, alpha: 4}``) is resolved
    here, errors naming the config key; the model factory merges it with
    ``model.neuron_kwargs`` (:func:`~spikeforge.models._common.neuron_settings`: the
    surrogate given in both places and differently is refused).
    """
    m = config.model
    sample, _ = dataset[0]
    kwargs = dict(m.kwargs)
    # A model built with a T of its own (T-RevSNN: one column per step) must match the
    # encoded input's T; say so now rather than at the first forward.
    own_t = kwargs.get("timesteps", config.data.timesteps)
    if config.data.encoder != "none" and own_t != config.data.timesteps:
        raise ValueError(
            f"model.kwargs.timesteps={own_t} but data.timesteps={config.data.timesteps}: "
            "the model has one step per input step; set both"
        )
    static = not getattr(dataset, "temporal", False)
    shape = sample.shape if static else sample.shape[1:]  # drop T of temporal samples
    encoded_shape = getattr(build_encoder(config), "encoded_shape", None) if static else None
    if encoded_shape is not None:  # e.g. population coding: C -> C·P channels
        shape = encoded_shape(tuple(shape))
    if len(shape) == 3:  # images [C, H, W]: size the model from the data
        kwargs.setdefault("in_channels", int(shape[0]))
        kwargs.setdefault("input_size", int(shape[-1]))
    return create(
        m.name,
        num_classes=num_classes_of(dataset),
        neuron=m.neuron,
        surrogate=(
            None if m.surrogate is None else resolve_surrogate(m.surrogate, where="model.surrogate")
        ),
        neuron_kwargs=dict(m.neuron_kwargs),
        **kwargs,
    )


def build_encoder(config: Config) -> nn.Module | None:
    """``data.encoder`` with its options (``None`` for ``"none"``): ``[B, ...]`` ->
    ``[T, B, ...]``."""
    d = config.data
    if d.encoder == "none":
        return None
    return ENCODERS.create(d.encoder, timesteps=d.timesteps, **d.encoder_options)


def build_optimizer(config: Config, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    o = config.optim
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.name == "sgd":
        return torch.optim.SGD(
            params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, nesterov=True
        )
    raise ValueError(f"optim.name must be 'adamw' or 'sgd', got {o.name!r}")


def build_schedule(
    config: Config, optimizer: torch.optim.Optimizer, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step schedule: linear warm-up, then cosine decay to 0 (or constant)."""
    o = config.optim
    if o.schedule not in ("cosine", "constant"):
        raise ValueError(f"optim.schedule must be 'cosine' or 'constant', got {o.schedule!r}")
    total = max(1, config.train.epochs * steps_per_epoch)
    warmup = int(o.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if o.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# -- the output contract ----------------------------------------------------------------
def _kinds_text(kinds: tuple[str, ...]) -> str:
    return "spiking outputs" if kinds == ("spikes",) else "an analog readout (membrane)"


def _readout_fix(config: Config, kind: str, wanted: tuple[str, ...]) -> str:
    """The model-side fix for a readout of ``kind`` when ``wanted`` kinds are needed."""
    spiking = config.model.kwargs.get("readout") == "spiking"
    if "spikes" in wanted and kind == "membrane":
        return "model.kwargs.readout=spiking"
    if kind == "spikes" and spiking and ("membrane" in wanted):
        return "drop model.kwargs.readout=spiking"
    return ""


def check_readout(config: Config, model: nn.Module) -> None:
    """Refuse ``train.objective`` when it cannot read ``model``'s declared readout kind,
    and an objective ``population`` (``train.method_options``) that differs from the
    model's (``model.kwargs.population``). An undeclared model is not checked."""
    name, objective = config.model.name, config.train.objective
    given = config.train.method_options.get("population")
    population = readout_population(model)
    if given is not None and given != population:
        where = f"model.kwargs.population={population}" if population else "no population"
        raise ValueError(
            f"train.method_options.population={given} but model {name} has {where}; set "
            f"model.kwargs.population={given} (the model then has {given} outputs per "
            "class, and the objective gets the population from it)"
        )
    kind = readout_kind(model)
    accepts = getattr(OBJECTIVES.get(objective), "accepts", None)
    if kind is None or accepts is None or kind in accepts:
        return
    others = [n for n in OBJECTIVES.names() if kind in getattr(OBJECTIVES.get(n), "accepts", ())]
    fixes = [f"train.objective={'/'.join(others)}"] if others else []
    fix = _readout_fix(config, kind, accepts)
    fixes += [fix] if fix else []
    raise ValueError(
        f"objective {objective} needs {_kinds_text(accepts)}, but {name}'s readout is "
        f"{READOUT_KINDS[kind]}; use {', or '.join(fixes)}"
    )


def _objective_decoder(
    config: Config, method: nn.Module | None, population: int | None
) -> nn.Module:
    """The objective's own readout: the method's objective's decoder, else one built
    from ``train.objective``, else the membrane's time mean (per group)."""
    objective = getattr(method, "objective", None)
    if isinstance(objective, nn.Module) and hasattr(objective, "readout_decoder"):
        return objective.readout_decoder()
    try:
        options = {} if population is None else {"population": population}
        return OBJECTIVES.create(config.train.objective, **options).readout_decoder()
    except (TypeError, ValueError, NotImplementedError):
        return MembraneDecoder("mean", population)


def build_decoder(config: Config, model: nn.Module, method: nn.Module | None = None) -> nn.Module:
    """The decoder that turns outputs ``[T, B, N]`` into predictions (``predict``).

    ``model.decoder`` with ``model.decoder_options``; a decoder that takes
    ``population`` gets the model's (``model.kwargs.population``), and one that takes
    ``num_classes`` the model's classes. ``None``: the objective's own readout
    (:meth:`~spikeforge.losses.objectives._Objective.readout_decoder` of ``method``'s
    objective: counts for the rate codes, first-spike times for the temporal ones, the
    membrane's time mean — max for ``reduction=max`` — for the membrane ones).

    Raises:
        ValueError: the decoder does not read ``model``'s readout kind, ignores its
            population, or does not take an option; each message names the fix.
    """
    population = readout_population(model)
    decoder = config.model.decoder
    if decoder is None:
        return _objective_decoder(config, method, population)
    name, model_name = decoder, config.model.name
    cls = DECODERS.get(name)
    options: dict[str, Any] = dict(config.model.decoder_options)
    params = inspect.signature(cls).parameters
    kind = readout_kind(model)
    accepts = getattr(cls, "accepts", None)
    if kind is not None and accepts is not None and kind not in accepts:
        others = [n for n in DECODERS.names() if kind in getattr(DECODERS.get(n), "accepts", ())]
        fixes = [f"model.decoder={'/'.join(others)}"] if others else []
        fixes.append("model.decoder=null (the objective's own readout)")
        fix = _readout_fix(config, kind, accepts)
        fixes += [fix] if fix else []
        raise ValueError(
            f"decoder {name} reads {_kinds_text(accepts)}, but {model_name}'s readout is "
            f"{READOUT_KINDS[kind]}; use {', or '.join(fixes)}"
        )
    if population is not None:
        if "population" not in params:
            raise ValueError(
                f"{model_name} has {population} outputs per class (model.kwargs.population); "
                f"decoder {name} reads one output per class: use model.decoder=population, "
                "or a decoder that takes a population (first_spike, membrane)"
            )
        given = options.setdefault("population", population)
        if given != population:
            raise ValueError(
                f"model.decoder_options.population={given} but {model_name} has "
                f"model.kwargs.population={population}; drop the decoder option"
            )
        if "num_classes" in params and readout_classes(model) is not None:
            options.setdefault("num_classes", readout_classes(model))
    required = "population" in params and params["population"].default is inspect.Parameter.empty
    if required and options.get("population") is None:
        raise ValueError(
            f"decoder {name} needs a population: set model.kwargs.population=P (P "
            "outputs per class), or model.decoder_options.population"
        )
    try:
        return DECODERS.create(name, **options)
    except TypeError as exc:
        raise ValueError(
            f"model.decoder={name} does not take the options {options}: {exc}"
        ) from None


def decoder_name(config: Config) -> str:
    """How reports name the decoder in use (``model.decoder`` or the objective's own)."""
    if config.model.decoder is not None:
        return config.model.decoder
    return f"{config.train.objective}'s own readout"
