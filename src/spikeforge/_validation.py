"""User-facing argument checks that raise ``ValueError``/``TypeError`` (never ``assert``).

Messages say what was expected and what came, so a person can act on them.
"""

from __future__ import annotations

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


def check_positive(value: Any, name: str, allow_zero: bool = False) -> None:
    """Check a float (or every entry of a tensor) is > 0 (or >= 0)."""
    bad = (value < 0) if allow_zero else (value <= 0)
    if isinstance(bad, torch.Tensor):
        bad = bool(bad.any())
    if bad:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value}")


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
