"""Pieces every model of the zoo shares: the input check, the classifier and the one
place where a factory's neuron settings (``neuron``, ``surrogate``, ``neuron_kwargs``)
become neurons (:func:`neuron_settings`)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..layers import fold
from ..neurons.registry import NEURONS, NeuronLike, create_neuron
from ..surrogates import Surrogate, SurrogateLike, resolve_surrogate

#: The surrogate of a model whose factory is given none (neither ``surrogate`` nor
#: ``neuron_kwargs["surrogate"]``).
DEFAULT_SURROGATE = "atan"

#: The neuron option a layer's width fills in (RLIF's recurrent weights are sized by it).
WIDTH_OPTION = "features"


def check_image_sequence(x: object, in_channels: int) -> None:
    """Raise unless ``x`` is a time-major image batch ``[T, B, in_channels, H, W]``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"input must be a tensor [T, B, C, H, W], got {type(x).__name__}")
    if x.dim() != 5 or x.shape[2] != in_channels:
        raise ValueError(
            f"input must be [T, B, {in_channels}, H, W] (time first), got shape {tuple(x.shape)}"
        )


def classifier(features: int, num_classes: int) -> nn.Module:
    """Per-step linear classifier ``[T, B, features] -> [T, B, num_classes]`` (0: none)."""
    if not isinstance(num_classes, int) or num_classes < 0:
        raise ValueError(f"num_classes must be an int >= 0, got {num_classes!r}")
    return fold(nn.Linear(features, num_classes)) if num_classes else nn.Identity()


def _width_parameter(neuron: NeuronLike | None) -> inspect.Parameter | None:
    """``neuron``'s ``features`` parameter (a registered name, class or factory), if any."""
    if neuron is None:
        return None
    factory = NEURONS.get(neuron) if isinstance(neuron, str) else neuron
    try:
        return inspect.signature(factory).parameters.get(WIDTH_OPTION)
    except (TypeError, ValueError):  # a callable without a readable signature
        return None


@dataclass(frozen=True)
class NeuronSettings:
    """A model's neuron with its options, the surrogate already resolved into them.

    Call it to build one neuron: ``settings()`` for a layer whose width the neuron does
    not need (convolutions), ``settings(features=width)`` for a layer of ``[T, B, width]``
    feature vectors — a neuron that takes ``features`` (``rlif``: its recurrent
    weights) gets that layer's width, so each layer of a model can have its own. Keyword
    ``overrides`` are a model's own per-layer settings (e.g. Spikformer's attention
    threshold) and replace the shared option of that name.
    """

    neuron: NeuronLike | None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def surrogate(self) -> Surrogate | None:
        """The resolved surrogate every neuron of the model gets."""
        return self.options.get("surrogate")

    @property
    def takes_width(self) -> bool:
        """Whether the neuron is sized by its layer's width (``features``)."""
        return _width_parameter(self.neuron) is not None

    def __call__(self, features: int | None = None, **overrides: Any) -> nn.Module:
        if self.neuron is None:
            raise ValueError("this model has no spiking neuron to build")
        options = {**self.options, **overrides}
        width = _width_parameter(self.neuron)
        if width is not None:
            given = options.get(WIDTH_OPTION)
            if features is not None:
                if given is not None and given != features:
                    raise ValueError(
                        f"neuron_kwargs.{WIDTH_OPTION}={given} conflicts with a layer "
                        f"{features} wide: leave {WIDTH_OPTION} out, each layer is sized "
                        "from its own width"
                    )
                options[WIDTH_OPTION] = features
            elif given is None and width.default is inspect.Parameter.empty:
                name = self.neuron if isinstance(self.neuron, str) else repr(self.neuron)
                raise ValueError(
                    f"neuron {name!r} is sized by its layer's width ({WIDTH_OPTION}), which "
                    "this model cannot give a layer that is not a vector of features "
                    "[T, B, N] (a convolution's [T, B, C, H, W]): use a model of feature "
                    f"layers (spiking_mlp), or set neuron_kwargs.{WIDTH_OPTION} yourself"
                )
        return create_neuron(self.neuron, **options)


def neuron_settings(
    neuron: NeuronLike | None,
    surrogate: SurrogateLike | None = None,
    neuron_kwargs: Mapping[str, Any] | None = None,
) -> NeuronSettings:
    """The one place a model factory turns its neuron arguments into :class:`NeuronSettings`.

    ``surrogate`` (a name, a mapping ``{name: atan, alpha: 4}`` or a
    :class:`~spikeforge.surrogates.Surrogate`) is resolved once
    (:func:`~spikeforge.surrogates.resolve_surrogate`) and merged into the options.
    It may instead come in ``neuron_kwargs["surrogate"]``; given in both places it must
    be the same surrogate, else this raises (neither silently wins). Neither given:
    :data:`DEFAULT_SURROGATE`.
    """
    if neuron_kwargs is not None and not isinstance(neuron_kwargs, Mapping):
        raise TypeError(f"neuron_kwargs must be a mapping, got {type(neuron_kwargs).__name__}")
    options = dict(neuron_kwargs or {})
    inner = options.pop("surrogate", None)
    outer = resolve_surrogate(surrogate) if surrogate is not None else None
    if inner is not None:
        inner = resolve_surrogate(inner, where="neuron_kwargs.surrogate")
        if outer is not None and inner != outer:
            raise ValueError(
                f"the surrogate is given twice and differently: surrogate={outer} "
                f"(model.surrogate in a config) and neuron_kwargs.surrogate={inner} "
                "(model.neuron_kwargs.surrogate): give it once, as surrogate"
            )
    options["surrogate"] = outer or inner or resolve_surrogate(DEFAULT_SURROGATE)
    return NeuronSettings(neuron, options)
