"""The neuron registry: ``create_neuron("lif", tau=2.0)``, ``NEURONS.names()``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from .._registry import Registry

NEURONS: Registry[Callable[..., nn.Module]] = Registry("neuron")

NeuronLike = str | type[nn.Module] | Callable[..., nn.Module]


def create_neuron(spec: NeuronLike, /, **kwargs: Any) -> nn.Module:
    """Build a neuron from a registered name, a class, or a factory, with ``kwargs``."""
    if isinstance(spec, str):
        return NEURONS.create(spec, **kwargs)
    if callable(spec):
        return spec(**kwargs)
    raise TypeError(
        f"neuron must be a name ({', '.join(NEURONS.names())}), a class or a factory, "
        f"got {type(spec).__name__}"
    )
