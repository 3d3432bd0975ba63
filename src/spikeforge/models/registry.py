"""Model registry: ``create("csnn_tiny", num_classes=10, neuron="lif")``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from .._registry import Registry

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")


def create(name: str, /, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name`` (e.g. ``num_classes=10, neuron="lif"``)."""
    return MODELS.create(name, **kwargs)
