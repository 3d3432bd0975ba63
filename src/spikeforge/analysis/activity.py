r"""Per-neuron activity: firing rates, dead/saturated fractions, rasters, membrane traces.

:class:`ActivityMonitor` hooks every spiking layer (as
:func:`~spikeforge.analysis.monitors.spiking_layers`) and, for each forward of a layer
with output spikes ``S`` ``[T, B, *N]``, accumulates per neuron

    ``count[n] += Σ_{t,b} 1[S[t, b, n] ≠ 0]``,  ``steps[n] += T · B``,

so ``rate[n] = count[n] / steps[n]`` is the probability that neuron ``n`` fires in a time
step. A neuron is *dead* if ``rate = 0`` (never fired) and *saturated* if ``rate = 1``
(fired at every step of every recorded sample).

Membrane traces: a forward hook cannot see a neuron's internal state, so the hook keeps
the layer's input ``X`` ``[T, B, *N]`` (sample ``sample`` only) and replays the neuron's
own dynamics on it with :meth:`SpikingNeuron.step`, reading the membrane ``state.v`` (the
first state field if there is no ``v``) after every step. That is the neuron's exact
trajectory — same module, same parameters, starting from rest as ``forward`` does — and
it works for every neuron type without per-type code. ``state.v`` is the membrane
*after* reset, as the neurons store it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from ..neurons.base import SpikingNeuron
from .monitors import forward_hooks, spiking_layers
from .ssim import ssim


class ActivityMonitor:
    """Records per-neuron spike counts, rasters and membrane traces of spiking layers.

    Args:
        model: model to observe.
        layers: layer names to record (default: every spiking layer).
        neurons: flat neuron indices (into ``*N``, row-major) to keep rasters and
            membrane traces of, per layer; default: the first ``min(16, n)`` neurons.
        sample: which batch element of the first recorded batch rasters/traces show.
        traces: record membrane traces (replays the dynamics; costs one extra pass).
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[str] | None = None,
        neurons: Sequence[int] | None = None,
        sample: int = 0,
        traces: bool = True,
    ) -> None:
        # neurons only: the per-neuron counts read [T, B, ...] and traces replay a state
        available = {n: m for n, m in spiking_layers(model) if isinstance(m, SpikingNeuron)}
        names = list(available) if layers is None else list(layers)
        unknown = [n for n in names if n not in available]
        if unknown:
            raise ValueError(
                f"not spiking layers of the model: {unknown}; expected names in {list(available)}"
            )
        if sample < 0:
            raise ValueError(f"sample must be >= 0, got {sample}")
        self.layers = [(name, available[name]) for name in names]
        self.neurons = None if neurons is None else [int(i) for i in neurons]
        self.sample = sample
        self.traces = traces
        self._counts: dict[str, torch.Tensor] = {}
        self._steps: dict[str, int] = {}
        self._rasters: dict[str, torch.Tensor] = {}
        self._membrane: dict[str, torch.Tensor] = {}

    def _chosen(self, n: int) -> torch.Tensor:
        idx = list(range(min(16, n))) if self.neurons is None else self.neurons
        bad = [i for i in idx if not 0 <= i < n]
        if bad:
            raise ValueError(f"neuron indices must be in [0, {n}), got {bad}")
        return torch.tensor(idx, dtype=torch.long)

    def _hook(self, name: str):
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            spikes = (output.detach() != 0).to(torch.float64)
            steps, batch = spikes.shape[:2]
            per_neuron = spikes.sum((0, 1))
            if name in self._counts:
                self._counts[name] += per_neuron
            else:
                self._counts[name] = per_neuron
            self._steps[name] = self._steps.get(name, 0) + steps * batch
            if name in self._rasters or self.sample >= batch:
                return
            chosen = self._chosen(per_neuron.numel())
            self._rasters[name] = spikes[:, self.sample].flatten(1)[:, chosen].cpu()
            if self.traces:
                self._membrane[name] = _replay_membrane(module, inputs[0], self.sample)[:, chosen]

        return record

    @contextmanager
    def record(self) -> Iterator[ActivityMonitor]:
        """Within this context every forward of a chosen layer is recorded."""
        with forward_hooks(self.layers, self._hook):
            yield self

    def _require(self, name: str) -> None:
        if name not in self._counts:
            raise ValueError(
                f"layer {name!r} has not been recorded; recorded: {list(self._counts)}"
            )

    def neuron_rates(self) -> dict[str, torch.Tensor]:
        """Per-neuron firing rate ``[*N]`` per recorded layer."""
        return {name: self._counts[name] / self._steps[name] for name in self._counts}

    def layer_rates(self) -> dict[str, float]:
        """Mean firing rate per recorded layer (as :class:`FiringRateMonitor`)."""
        return {name: float(rate.mean()) for name, rate in self.neuron_rates().items()}

    def dead_fraction(self) -> dict[str, float]:
        """Fraction of neurons that never fired, per layer."""
        return {name: float((r == 0).double().mean()) for name, r in self.neuron_rates().items()}

    def saturated_fraction(self) -> dict[str, float]:
        """Fraction of neurons that fired at every recorded step, per layer."""
        return {name: float((r == 1).double().mean()) for name, r in self.neuron_rates().items()}

    def raster(self, name: str) -> torch.Tensor:
        """Spikes ``[T, n_chosen]`` (0/1) of the chosen neurons of the recorded sample."""
        self._require(name)
        if name not in self._rasters:
            raise ValueError(f"no raster for {name!r}: sample {self.sample} was not in the batch")
        return self._rasters[name]

    def membrane(self, name: str) -> torch.Tensor:
        """Membrane ``[T, n_chosen]`` (after reset) of the chosen neurons."""
        self._require(name)
        if name not in self._membrane:
            raise ValueError(
                f"no membrane trace for {name!r} (traces=False or sample out of batch)"
            )
        return self._membrane[name]

    def rate_maps(self) -> dict[str, torch.Tensor]:
        """Spatial firing-rate maps ``[H, W]`` (mean over channels) of layers shaped
        ``[T, B, C, H, W]``; other layers are skipped."""
        return {name: m.mean(0) for name, m in self.neuron_rates().items() if m.dim() == 3}

    def summary(self) -> dict[str, dict[str, float]]:
        """``{layer: {rate, dead, saturated}}`` — the report's per-layer table."""
        rates, dead, sat = self.layer_rates(), self.dead_fraction(), self.saturated_fraction()
        return {n: {"rate": rates[n], "dead": dead[n], "saturated": sat[n]} for n in rates}


@torch.no_grad()
def _replay_membrane(neuron: nn.Module, x: torch.Tensor, sample: int) -> torch.Tensor:
    """Run ``neuron.step`` over ``x[:, sample:sample+1]``; membrane per step ``[T, n]``."""
    x = x.detach()[:, sample : sample + 1]
    state: Any = None
    trace = []
    for t in range(x.shape[0]):
        _, state = neuron.step(x[t], state)
        v = state.v if hasattr(state, "v") else state[0]
        trace.append(v.flatten().to(torch.float64).cpu())
    return torch.stack(trace)


def successive_ssim(maps: dict[str, torch.Tensor], **kwargs: Any) -> list[tuple[str, str, float]]:
    """SSIM between the rate maps of successive layers (MS-ResNet block analysis).

    Maps of different size are average-pooled to the smaller size first (rate maps of a
    later, downsampled block are compared on its grid). ``kwargs`` go to :func:`ssim`.

    Returns:
        ``[(layer_a, layer_b, ssim), ...]`` for consecutive entries of ``maps``.
    """
    names = list(maps)
    out = []
    for a, b in itertools.pairwise(names):
        x, y = maps[a].double(), maps[b].double()
        if x.dim() != 2 or y.dim() != 2:
            raise ValueError(f"rate maps must be [H, W], got {tuple(x.shape)} and {tuple(y.shape)}")
        size = (min(x.shape[0], y.shape[0]), min(x.shape[1], y.shape[1]))
        x = nn.functional.adaptive_avg_pool2d(x[None, None], size)[0, 0]
        y = nn.functional.adaptive_avg_pool2d(y[None, None], size)[0, 0]
        out.append((a, b, float(ssim(x, y, **kwargs))))
    return out
