"""Surrogate gradients: forward is the Heaviside step, backward a smooth derivative.

Every surrogate is a small frozen dataclass (readable ``repr``, picklable, comparable)
with a smooth ``primitive`` σ(x) and its analytic ``derivative`` σ'(x), x = H - V_th.
``alpha`` is the single sharpness knob (width = O(1/alpha)). Calling a surrogate on a
tensor returns spikes ``Θ(x)`` whose gradient is ``σ'(x)`` (:func:`spike`, the one
Heaviside-with-surrogate autograd Function; :mod:`spikeforge.functional.spike` re-exports
it, so this bottom module imports nothing of ``functional``).

Firing convention (library-wide): ``Θ(x) = 1 if x >= 0 else 0`` — a membrane exactly
at threshold fires.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch

from ._registry import Registry
from ._validation import check_positive

SURROGATES: Registry[type[Surrogate]] = Registry("surrogate")


@dataclass(frozen=True)
class Surrogate:
    """Base class. Subclasses define ``primitive`` and ``derivative`` (elementwise)."""

    alpha: float = 1.0

    def __post_init__(self) -> None:
        check_positive(self.alpha, f"{type(self).__name__}.alpha")

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        """Smooth stand-in for Θ whose derivative is :meth:`derivative`."""
        raise NotImplementedError

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """σ'(x), the gradient used in place of Θ'(x) = δ(x)."""
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return spike(x, self)


class _SpikeFunction(torch.autograd.Function):
    """S = Θ(x) (fires at x >= 0); dS/dx := surrogate.derivative(x)."""

    @staticmethod
    def forward(x: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
        return (x >= 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, surrogate = inputs
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.derivative(x), None


def spike(x: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
    """Spikes ``Θ(x)`` of any shape, with gradient ``surrogate.derivative(x)``.

    Args:
        x: membrane minus threshold, any shape.
        surrogate: the :class:`Surrogate` used in backward.

    Returns:
        Tensor of 0/1 in ``x``'s dtype and shape.
    """
    return _SpikeFunction.apply(x, surrogate)


@SURROGATES.register("atan")
@dataclass(frozen=True)
class ATan(Surrogate):
    """σ'(x) = α / (2 (1 + (π α x / 2)²)) (snnTorch / SpikingJelly default, α = 2)."""

    alpha: float = 2.0

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 + torch.atan(0.5 * math.pi * self.alpha * x) / math.pi

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return self.alpha / (2.0 * (1.0 + (0.5 * math.pi * self.alpha * x) ** 2))


@SURROGATES.register("sigmoid")
@dataclass(frozen=True)
class Sigmoid(Surrogate):
    """σ'(x) = α s(αx) (1 - s(αx)) (Spikformer uses α = 4)."""

    alpha: float = 4.0

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.alpha * x)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.alpha * x)
        return self.alpha * s * (1.0 - s)


@SURROGATES.register("fast_sigmoid")
@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """σ'(x) = 1 / (1 + α|x|)² (SuperSpike; snnTorch's slope 25)."""

    alpha: float = 25.0

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        return x / (1.0 + self.alpha * x.abs())

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return 1.0 / (1.0 + self.alpha * x.abs()) ** 2


@SURROGATES.register("triangle")
@dataclass(frozen=True)
class Triangle(Surrogate):
    """σ'(x) = γ · max(0, 1 - α|x|) (LaSNN; α = 1/V_th, γ the dampening factor)."""

    alpha: float = 1.0
    gamma: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self.gamma, "Triangle.gamma")

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        # ∫ γ (1 - α|x|) dx on |x| < 1/α, constant outside; centred so σ(0) = γ/(2α).
        u = torch.clamp(self.alpha * x, -1.0, 1.0)
        return self.gamma / self.alpha * (0.5 + u - 0.5 * u * u.abs())

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return self.gamma * torch.clamp(1.0 - self.alpha * x.abs(), min=0.0)


@SURROGATES.register("rectangle")
@dataclass(frozen=True)
class Rectangle(Surrogate):
    """σ'(x) = α · 1[|x| < 1/(2α)] (width a = 1/α; α = 1 with V_th = 0.5 is the STE)."""

    alpha: float = 1.0

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.alpha * x + 0.5, 0.0, 1.0)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return self.alpha * (x.abs() < 0.5 / self.alpha).to(x.dtype)


@SURROGATES.register("piecewise_linear")
@dataclass(frozen=True)
class PiecewiseLinear(Surrogate):
    """Piecewise leaky ReLU: σ'(x) = α/2 on |x| < 1/α, ``leak`` outside (PSU's PWL)."""

    alpha: float = 1.0
    leak: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self.leak, "PiecewiseLinear.leak", allow_zero=True)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        w = 1.0 / self.alpha
        inner = 0.5 * self.alpha * x + 0.5
        return torch.where(
            x.abs() < w, inner, torch.where(x < 0, self.leak * (x + w), 1.0 + self.leak * (x - w))
        )

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        inside = x.abs() < 1.0 / self.alpha
        # Build in x's dtype: a python-float torch.where would round through float32.
        return torch.where(
            inside, torch.full_like(x, 0.5 * self.alpha), torch.full_like(x, self.leak)
        )


SurrogateLike = Surrogate | str | Mapping[str, Any]
"""A surrogate as every neuron, model and config takes it: a registered name
(``"atan"``), a mapping ``{"name": "atan", "alpha": 4.0}`` with that surrogate's options,
or a :class:`Surrogate` instance."""


def surrogate_options(name: str) -> tuple[str, ...]:
    """The options of the surrogate registered as ``name`` (``("alpha", "gamma")`` for
    ``"triangle"``): the fields of its dataclass."""
    return tuple(f.name for f in fields(SURROGATES.get(name)))


def resolve_surrogate(spec: SurrogateLike | None, where: str = "surrogate") -> Surrogate:
    """The one place a surrogate setting becomes a :class:`Surrogate`.

    ``spec``: ``None`` (atan with its default α), a registered name, a mapping
    ``{name: ..., **options}`` (``{"name": "atan", "alpha": 4}``, ``{"name": "triangle",
    "alpha": 1, "gamma": 0.5}``) or an instance (returned as is). Errors name ``where``
    (e.g. ``model.surrogate``): an unknown surrogate lists the registered ones, an
    unknown option the valid options of that surrogate; option values must be numbers
    (stored as floats) within the surrogate's own limits (``alpha > 0``).
    """
    if spec is None:
        spec = "atan"
    if isinstance(spec, Surrogate):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping):
        raise TypeError(
            f"{where} must be a name ({', '.join(SURROGATES.names())}), a mapping "
            f"{{name: ..., alpha: ...}} or a Surrogate, got {type(spec).__name__}"
        )
    options = dict(spec)
    name = options.pop("name", None)
    if not isinstance(name, str):
        shown = "no name" if name is None else f"name {name!r}"
        raise ValueError(
            f"{where}={dict(spec)!r} has {shown}: give a registered surrogate's name, "
            f"e.g. {{name: atan, alpha: 4}} (one of {', '.join(SURROGATES.names())})"
        )
    try:
        cls = SURROGATES.get(name)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    valid = surrogate_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"{where}: surrogate {name!r} has no option(s) {', '.join(map(str, unknown))}; "
            f"its options: {', '.join(valid)}"
        )
    for key, value in options.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}.{key} must be a number, got {value!r}")
        options[key] = float(value)
    try:
        return cls(**options)
    except ValueError as exc:  # the surrogate's own limits (alpha > 0, ...)
        raise ValueError(f"{where}: {exc}") from None


def get_surrogate(spec: SurrogateLike | None, **kwargs: float) -> Surrogate:
    """Resolve a surrogate given by name (``"atan"``, options as ``kwargs``), mapping
    (``{"name": "atan", "alpha": 4}``), instance, or ``None`` (atan); see
    :func:`resolve_surrogate`."""
    if isinstance(spec, Surrogate):
        if kwargs:
            raise ValueError("pass options with a surrogate name, not with an instance")
        return spec
    if kwargs:
        if isinstance(spec, Mapping):
            spec = {**spec, **kwargs}
        elif isinstance(spec, str) or spec is None:
            spec = {"name": spec or "atan", **kwargs}
    if spec is not None and not isinstance(spec, str | Mapping):
        raise TypeError(
            f"surrogate must be a name ({', '.join(SURROGATES.names())}), a mapping "
            f"{{name: ..., alpha: ...}} or a Surrogate, got {type(spec).__name__}"
        )
    return resolve_surrogate(spec)
