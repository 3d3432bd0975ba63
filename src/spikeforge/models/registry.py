"""Model registry: ``create("csnn_tiny", num_classes=10, neuron="lif")``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from .._registry import Registry
from .output import configure_readout, population_outputs

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")


def create(name: str, /, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name`` (e.g. ``num_classes=10, neuron="lif"``).

    The output options every model takes are handled here, not by its factory (see
    :mod:`.output`): ``population=P`` (the factory is asked for ``P·num_classes``
    outputs, P per class) and ``readout="spiking"`` / ``"membrane"``.
    """
    population = kwargs.pop("population", None)
    readout = kwargs.pop("readout", None)
    num_classes = kwargs.get("num_classes")
    if population is not None:
        kwargs["num_classes"] = population_outputs(num_classes, population)
    model = MODELS.create(name, **kwargs)
    return configure_readout(
        model,
        name,
        readout=readout,
        population=population,
        num_classes=num_classes,
        neuron=kwargs.get("neuron", "lif"),
        surrogate=kwargs.get("surrogate"),
        neuron_kwargs=kwargs.get("neuron_kwargs"),
    )
