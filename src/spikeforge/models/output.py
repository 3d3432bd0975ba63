"""The output contract of a model: what its outputs ``[T, B, N]`` are, and the output
options every registered model takes.

What the outputs are, the model's **readout kind** (``model.readout_kind``, one of
:data:`~spikeforge.encoding.decoders.READOUT_KINDS`): ``"spikes"`` (0/1 spikes of a
spiking output layer), ``"membrane"`` (the analog membrane of a non-spiking LI or linear
readout, every step: every SNN of the zoo as its factory builds it) or ``"analog"`` (an
ANN's scores). A model class declares it as a class attribute (``readout_kind =
"membrane"``), a factory that returns a plain container with :func:`declare_readout`.
The engine reads it with :func:`readout_kind` and refuses an objective or a decoder that
does not read that kind (``ce_temporal`` on an analog membrane, ``ce_membrane`` on
spikes); an undeclared model (``None``: hand-built ones) is not checked.

The options, applied by :func:`spikeforge.models.create` for every registered model
(:func:`configure_readout`; no factory handles them itself), so a config sets them in
``model.kwargs``:

- ``population=P``: an output population per class: the factory is asked for
  ``P·num_classes`` outputs (class c owns outputs ``c·P … c·P + P - 1``), recorded as
  ``model.readout_population`` for the objectives (``population=P``) and decoders.
- ``readout="spiking"``: the outputs pass through one more neuron of the model's own
  kind (``neuron``, ``neuron_kwargs``, ``surrogate``), and the model becomes
  ``"spikes"``; ``readout="membrane"`` keeps the factory's analog readout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import torch
from torch import nn

from .._validation import check_choice
from ..encoding.decoders import READOUT_KINDS, check_population, check_readout_kind
from ._common import neuron_settings

M = TypeVar("M", bound=nn.Module)

#: ``model.kwargs.readout`` values: keep the factory's readout, or make it spiking.
READOUT_OPTIONS = ("membrane", "spiking")

#: Model options :func:`configure_readout` handles (``create`` takes them from the
#: factory's keyword arguments).
OUTPUT_OPTIONS = ("population", "readout")


def declare_readout(model: M, kind: str) -> M:
    """Record on ``model`` what its outputs are (``model.readout_kind = kind``); returns
    ``model``. For factories that return a container (``nn.Sequential``); a model class
    declares a class attribute instead."""
    model.readout_kind = check_readout_kind(kind)
    return model


def readout_kind(model: nn.Module) -> str | None:
    """What ``model``'s outputs are, as it declares them (``None``: undeclared)."""
    kind = getattr(model, "readout_kind", None)
    if kind is None:
        return None
    return check_readout_kind(kind, f"{type(model).__name__}.readout_kind")


def readout_population(model: nn.Module) -> int | None:
    """P, the outputs per class of a model built with ``population=P`` (else ``None``)."""
    return getattr(model, "readout_population", None)


def readout_classes(model: nn.Module) -> int | None:
    """The classes of a model built with ``population=P`` (its outputs / P), else ``None``."""
    return getattr(model, "readout_classes", None)


def population_outputs(num_classes: object, population: object) -> int:
    """The outputs of a model with ``population`` neurons per class: ``P·num_classes``."""
    P = check_population(population)
    if P is None:
        raise TypeError("population must be an int >= 1, got None")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(
            f"population={P} needs num_classes (an int >= 1; the model gets "
            f"population·num_classes outputs), got {num_classes!r}"
        )
    return P * num_classes


def _spiking_readout_hook(model: nn.Module, args: Any, output: Any) -> torch.Tensor:
    """Forward hook of ``readout="spiking"``: the output through ``model.readout_neuron``."""
    if not isinstance(output, torch.Tensor):
        raise TypeError(
            f"readout=spiking passes {type(model).__name__}'s output [T, B, N] through a "
            f"spiking neuron, but its forward returned {type(output).__name__}"
        )
    return model.readout_neuron(output)


def configure_readout(
    model: M,
    name: str,
    *,
    readout: str | None = None,
    population: int | None = None,
    num_classes: int | None = None,
    neuron: Any = "lif",
    surrogate: Any = None,
    neuron_kwargs: Mapping[str, Any] | None = None,
) -> M:
    """Apply the output options of the model ``name`` (see the module docstring).

    ``population``: the model was built with ``population·num_classes`` outputs; records
    ``readout_population`` and ``readout_classes``. ``readout="spiking"``: a spiking
    neuron built like the model's own (:func:`~._common.neuron_settings`) is appended to
    an ``nn.Sequential``, or else added as the submodule ``readout_neuron`` and applied
    by a forward hook, so no other parameter changes its name; refused for an ANN
    (``"analog"``). ``readout="membrane"`` keeps the factory's readout; refused for a
    model whose outputs are spikes.
    """
    if population is not None:
        model.readout_population = check_population(population)
        model.readout_classes = num_classes
    if readout is None:
        return model
    choice = check_choice(readout, "readout", READOUT_OPTIONS)
    kind = readout_kind(model)
    if choice == "membrane":
        if kind == "spikes":
            raise ValueError(
                f"{name}'s outputs are spikes already; readout=membrane needs a model "
                "with an analog readout"
            )
        return model
    if kind == "spikes":
        return model
    if kind == "analog":
        raise ValueError(
            f"{name} is an ANN (its readout is {READOUT_KINDS['analog']}); "
            "readout=spiking needs a time-major spiking model"
        )
    outputs = None if num_classes is None else num_classes * (population or 1)
    spiking = neuron_settings(neuron, surrogate, neuron_kwargs)(features=outputs)
    if isinstance(model, nn.Sequential):
        model.append(spiking)
    else:
        if hasattr(model, "readout_neuron"):
            raise ValueError(f"{name} already has an attribute readout_neuron")
        model.add_module("readout_neuron", spiking)
        model.register_forward_hook(_spiking_readout_hook)
    return declare_readout(model, "spikes")
