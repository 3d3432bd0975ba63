"""One inference measured: energy (from counted operations) and overall firing rate."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .energy import estimate_energy
from .monitors import forward_hooks, spiking_layers
from .ops import count_operations
from .spike_count import count_spikes


def measure_inference(
    model: nn.Module, inputs: torch.Tensor, preset: str = "45nm"
) -> dict[str, Any]:
    """Energy per inference (µJ) and overall firing rate of ``model`` on ``inputs``.

    Args:
        model: put in eval mode for the measurement.
        inputs: ``[T, B, ...]`` (``T = 1`` for an ANN).
        preset: energy preset name (see :data:`~spikeforge.analysis.ENERGY_PRESETS`).

    Returns:
        ``{"energy_uj", "firing_rate", "mac_ops_per_sample", "ac_ops_per_sample"}``; the
        firing rate is all spikes over all neuron-steps of the spiking layers (``None``
        for a network without spiking neurons).
    """
    model.eval()
    spikes, slots = 0.0, 0

    def make_hook(name: str):
        def hook(module: nn.Module, args: Any, output: torch.Tensor) -> None:
            nonlocal spikes, slots
            spikes += count_spikes(output)
            slots += output.numel()

        return hook

    with forward_hooks(spiking_layers(model), make_hook):
        counts = count_operations(model, inputs)
    energy = estimate_energy(counts, preset=preset)
    return {
        "energy_uj": energy.snn_pj / 1e6,
        "firing_rate": spikes / slots if slots else None,
        "mac_ops_per_sample": counts.mac_ops,
        "ac_ops_per_sample": counts.ac_ops,
    }
