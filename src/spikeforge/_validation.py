"""User-facing argument checks that raise ``ValueError``/``TypeError`` (never ``assert``).

Messages say what was expected and what came, so a person can act on them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch


def check_sequence(x: Any, name: str = "input", min_dim: int = 2) -> torch.Tensor:
    """Check ``x`` is a time-major tensor ``[T, B, ...]`` with at least ``min_dim`` dims."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape [T, B, ...], got {type(x).__name__}"
        )
    if x.dim() < min_dim:
        raise ValueError(
            f"{name} must have shape [T, B, ...] with at least {min_dim} dims "
            f"(time first, then batch), got shape {tuple(x.shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} has zero time steps (shape {tuple(x.shape)}); expected T >= 1")
    return x


def check_finite(value: Any, name: str) -> None:
    """Check a number (or every entry of a tensor) is finite: not NaN, not ±inf.

    Integer and boolean tensors are always finite. Other types raise ``TypeError``.
    """
    if isinstance(value, torch.Tensor):
        if not (value.is_floating_point() or value.is_complex()):
            return
        finite = torch.isfinite(value.detach())
        if bool(finite.all()):
            return
        bad = int((~finite).sum())
        raise ValueError(
            f"{name} must be finite, got a tensor of shape {tuple(value.shape)} with {bad} "
            f"non-finite entr{'y' if bad == 1 else 'ies'} ({_kinds(value.detach()[~finite])})"
        )
    try:
        finite_number = math.isfinite(value)
    except TypeError:
        raise TypeError(f"{name} must be a number, got {type(value).__name__}") from None
    if not finite_number:
        raise ValueError(f"{name} must be a finite number, got {value}")


def check_positive(value: Any, name: str, allow_zero: bool = False) -> None:
    """Check a number (or every entry of a tensor) is finite and > 0 (or >= 0).

    NaN and ±inf are refused too (``nan <= 0`` is False, so a bare comparison would let
    them through).
    """
    bound = ">= 0" if allow_zero else "> 0"
    check_finite(value, name)
    bad = (value < 0) if allow_zero else (value <= 0)
    if isinstance(bad, torch.Tensor):
        bad = bool(bad.any())
    if bad:
        raise ValueError(f"{name} must be {bound}, got {value}")


def _kinds(values: torch.Tensor) -> str:
    """``"2 NaN, 1 +inf"`` for a 1-d tensor of non-finite values."""
    counts = {
        "NaN": int(values.isnan().sum()),
        "+inf": int((values == math.inf).sum()),
        "-inf": int((values == -math.inf).sum()),
    }
    return ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)


def sum_is_finite(*tensors: torch.Tensor) -> bool:
    """Whether the sum of every floating-point tensor given is finite: one reduction
    each and one host sync. True proves all entries finite (NaN or inf anywhere makes
    the sum NaN or inf); False means a non-finite entry *or* an overflowing sum."""
    totals = [
        t.detach().sum(dtype=torch.float32 if t.element_size() < 4 else None)
        for t in tensors
        if t.is_floating_point()
    ]
    if not totals:
        return True
    total = totals[0] if len(totals) == 1 else torch.stack([t.double() for t in totals]).sum()
    return math.isfinite(total.item())


def check_finite_input(x: torch.Tensor, what: str, layout: str = "", hint: str = "") -> None:
    """Refuse a floating-point tensor holding NaN or ±inf, saying where the first one is.

    Args:
        x: the tensor (integer and boolean tensors pass).
        what: names it in the message, e.g. ``"input to LIF layer"``.
        layout: its axes for the message, e.g. ``"[T, B, ...]"``.
        hint: appended to the message (e.g. how to opt out of the check).

    The common (all finite) case costs one reduction and one host sync: NaN or inf
    anywhere makes the sum NaN or inf, so only a non-finite sum (a bad entry, or an
    overflowing sum of large finite entries) leads to the exact per-entry check.
    """
    if not x.is_floating_point() or sum_is_finite(x):
        return
    x = x.detach()
    finite = torch.isfinite(x)
    if bool(finite.all()):  # the sum overflowed; every entry is finite
        return
    bad = ~finite
    first = x[bad][0].item()
    index = bad.nonzero()[0].tolist()
    kind = "NaN" if math.isnan(first) else ("+inf" if first > 0 else "-inf")
    axes = f" = {layout}" if layout else ""
    raise ValueError(
        f"{what} contains {kind} at index {index} (of shape {tuple(x.shape)}{axes}; "
        f"{_kinds(x[bad])} in all){hint}"
    )


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """Check ``value`` is one of ``choices``."""
    options = tuple(choices)
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def check_state_shape(state_shape: torch.Size, step_shape: torch.Size, sequence: bool) -> None:
    """Raise when a carried state does not match the per-step input shape ``[B, ...]``.

    Args:
        state_shape: shape of a state tensor.
        step_shape: shape of one time step of the input, ``[B, ...]``.
        sequence: whether the input was a whole sequence (adds a ``[B, T]`` swap hint).
    """
    if state_shape == step_shape:
        return
    hint = ""
    if sequence and len(step_shape) >= 1 and len(state_shape) == len(step_shape):
        hint = (
            " — did you pass [B, T, ...] instead of [T, B, ...], or change the batch "
            "size between calls? Start from rest with state=None."
        )
    raise ValueError(
        f"state shape {tuple(state_shape)} does not match the per-step input shape "
        f"{tuple(step_shape)} (input is [T, B, ...], state is [B, ...]){hint}"
    )
