"""Charge-independent parts of a spiking step: firing and reset."""

from __future__ import annotations

import torch

from ..surrogates import Surrogate
from .spike import spike

RESET_MODES = ("zero", "subtract", "none")
Scalar = float | torch.Tensor


def fire(h: torch.Tensor, v_th: Scalar, surrogate: Surrogate) -> torch.Tensor:
    """``S = Θ(H - V_th)`` (fires at equality), surrogate gradient in backward."""
    return spike(h - v_th, surrogate)


def apply_reset(
    h: torch.Tensor,
    s: torch.Tensor,
    mode: str,
    v_th: Scalar,
    v_reset: Scalar,
    detach_reset: bool,
) -> torch.Tensor:
    """Membrane after reset.

    - ``"zero"`` (hard): ``V = H (1 - S) + V_reset S``
    - ``"subtract"`` (soft): ``V = H - V_th S``
    - ``"none"``: ``V = H``

    With ``detach_reset`` the spike in the reset term carries no gradient.
    """
    if mode == "none":
        return h
    if detach_reset:
        s = s.detach()
    if mode == "zero":
        return h - (h - v_reset) * s
    if mode == "subtract":
        return h - v_th * s
    raise ValueError(f"reset must be one of {RESET_MODES}, got {mode!r}")
