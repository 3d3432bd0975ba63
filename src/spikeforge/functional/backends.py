"""The one dispatch table from (neuron family, backend) to a multi-step kernel.

It lives here, below :mod:`spikeforge.kernels`, so that the dynamics can dispatch without
importing the kernels: each reference registers itself as its family's ``"torch"`` kernel
where it is defined (``functional/lif.py``, ``alif.py``, ``leaky.py``), and importing
:mod:`spikeforge.kernels` (which ``import spikeforge`` does) registers the fused backends
into the same table. Nothing here imports anything of ``spikeforge``.

A kernel for the ``"lif"`` family has the signature
``kernel(x [T, B, ...], v0 [B, ...], p: LIFParameters) -> (spikes, v_final)``; for the
``"leaky"`` family (first-order linear scans)
``kernel(x [T, B, ...], y0 [B, ...], p: LeakyParameters) -> (y [T, B, ...], y[T-1])``;
for the ``"alif"`` family ``kernel(x, v0, a0, p: ALIFParameters) -> (spikes, v, a)``.
``"torch"`` is the plain-torch reference every fused backend is tested against.
``"auto"`` tries the fused backends in :data:`AUTO_ORDER` and takes the first whose
``supports`` accepts the input, falling back to ``"torch"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

BACKENDS = ("auto", "torch", "cpu", "triton")
AUTO_ORDER = ("triton", "cpu")


@dataclass(frozen=True)
class Kernel:
    """A backend's implementation and its capability check.

    ``supports(x, p)`` returns ``None`` when the kernel can run, else the reason it
    cannot (shown to the user when they asked for this backend explicitly).
    """

    fn: Callable[..., Any]
    supports: Callable[[torch.Tensor, Any], str | None]


_TABLE: dict[tuple[str, str], Kernel] = {}


def _always(x: torch.Tensor, p: Any) -> str | None:
    return None


def register_kernel(
    family: str, backend: str, supports: Callable[[torch.Tensor, Any], str | None] = _always
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``fn`` as ``backend``'s kernel for ``family``."""
    if backend not in BACKENDS or backend == "auto":
        raise ValueError(f"backend must be one of {BACKENDS[1:]}, got {backend!r}")

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        key = (family, backend)
        if key in _TABLE:
            raise ValueError(f"a {backend!r} kernel for {family!r} is already registered")
        _TABLE[key] = Kernel(fn, supports)
        return fn

    return decorator


def available(family: str) -> list[str]:
    """Backends registered for ``family``."""
    return [b for (f, b) in _TABLE if f == family]


def dispatch(family: str, backend: str, x: torch.Tensor, p: Any) -> Callable[..., Any]:
    """Pick the kernel for ``family`` on input ``x`` with parameters ``p``."""
    if backend == "auto":
        for name in AUTO_ORDER:
            kernel = _TABLE.get((family, name))
            if kernel is not None and kernel.supports(x, p) is None:
                return kernel.fn
        backend = "torch"
    elif backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    kernel = _TABLE.get((family, backend))
    if kernel is None:
        hint = "" if backend == "torch" else " (importing spikeforge.kernels registers them)"
        raise ValueError(
            f"no {backend!r} kernel for neuron family {family!r}; available: "
            f"{available(family)}{hint}"
        )
    reason = kernel.supports(x, p)
    if reason is not None:
        raise ValueError(f"the {backend!r} kernel for {family!r} cannot run here: {reason}")
    return kernel.fn
