"""Typed neuron state containers (NamedTuples, so torch's pytree utilities handle them).

Every tensor in a state has the per-step input shape ``[B, ...]``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class LIFState(NamedTuple):
    """IF / LIF / PLIF: membrane ``v`` after reset."""

    v: torch.Tensor


class ALIFState(NamedTuple):
    """Adaptive LIF: membrane ``v`` and adaptation ``a`` (includes the latest spike)."""

    v: torch.Tensor
    a: torch.Tensor


class CuBaState(NamedTuple):
    """Current-based LIF: synaptic current ``i`` and membrane ``v``."""

    i: torch.Tensor
    v: torch.Tensor


class RLIFState(NamedTuple):
    """Recurrent LIF: membrane ``v`` and the previous step's spikes ``s``."""

    v: torch.Tensor
    s: torch.Tensor


class LIState(NamedTuple):
    """Non-spiking leaky integrator (readout): membrane ``v``."""

    v: torch.Tensor
