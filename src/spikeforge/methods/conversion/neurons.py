r"""Modules a converted network runs with: rate-coded IF neurons and spiking max-pool.

Threshold convention (one, used everywhere): **``V_th = λ_l`` and a spike carries
the charge ``λ_l``**. A :class:`ConvertedIF` with scale ``λ`` (per layer ``()`` or per
channel ``[C]``) integrates ``H[t] = V[t-1] + X[t]``, fires ``S[t] = Θ(H[t] - λ)``,
soft-resets ``V[t] = H[t] - λ S[t]`` and outputs ``λ·S[t]``. Hence
``mean_t(output) = rate · V_th ≈ min(ReLU(x), λ)`` and the next layer's weights are
used unchanged (no weight rescaling, so residual adds and concatenations of layers
with different ``λ`` stay exact). Internally the membrane is kept in units of ``λ``
(an :class:`~spikeforge.neurons.IF` with ``v_th = 1`` on ``X/λ``), which is the same
dynamics and lets ``λ`` be a learnable parameter for hybrid fine-tuning.

The converted body is the ANN's graph run on time folded into the batch
(``[T·B, ...]``); the neurons unfold it to ``[T, B, ...]`` using the number of steps
in a shared :class:`TimeContext` that :class:`~.model.ConvertedSNN` sets per call. The
same context carries streaming state between calls and the calibration mode in which
every neuron acts as the ReLU it replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..._validation import check_finite
from ...functional.state import LIFState
from ...neurons import create_neuron
from ...surrogates import SurrogateLike

ANALOG = "analog"
SPIKING = "spiking"
NEURON_CHOICES = ("if", "lif", "plif")  # IF is the exact rate model; LIF/PLIF leak


@dataclass
class TimeContext:
    """Per-call information shared by the converted neurons of one network.

    Attributes:
        mode: ``"spiking"`` (``[T·B, ...]`` sequences) or ``"analog"`` (ReLU, no time).
        steps: T of the current spiking call.
        streaming: the call carries state in/out (``ConvertedSNN.run``), else from rest.
        states_in: state of each neuron (by name) to continue from; missing -> rest.
        states_out: final state of each neuron after the call.
        observers: calibration callbacks by neuron name (analog mode).
    """

    mode: str = SPIKING
    steps: int = 1
    streaming: bool = False
    states_in: dict[str, Any] = field(default_factory=dict)
    states_out: dict[str, Any] = field(default_factory=dict)
    observers: dict[str, Callable[[torch.Tensor], None]] = field(default_factory=dict)


class _TimeAware(nn.Module):
    """A module that reads T (and its state) from the network's :class:`TimeContext`."""

    #: It keeps its own state over the whole sequence (step-by-step training refuses it).
    runs_whole_sequence = True

    def __init__(self) -> None:
        super().__init__()
        self.context = TimeContext()  # replaced by the owning ConvertedSNN
        self.site = ""  # name in the context's state dicts

    def _unfold(self, x: torch.Tensor) -> torch.Tensor:
        steps = self.context.steps
        if x.shape[0] % steps:
            raise ValueError(
                f"{type(self).__name__} {self.site!r}: folded batch of {x.shape[0]} is not a "
                f"multiple of T={steps} (run the converted network on [T, B, ...])"
            )
        return x.unflatten(0, (steps, x.shape[0] // steps))


def _check_scale(scale: torch.Tensor, site: str = "") -> None:
    """``λ``: a finite, positive scalar or ``[C]`` tensor."""
    where = f" of neuron site {site!r}" if site else ""
    check_finite(scale, f"scale (V_th){where}")
    if scale.dim() > 1 or bool((scale <= 0).any()):
        raise ValueError(
            f"scale (V_th){where} must be a positive scalar or [C] tensor, got "
            f"{scale.tolist() if scale.numel() <= 8 else f'shape {tuple(scale.shape)}'}"
        )


class ConvertedIF(_TimeAware):
    """IF neuron with soft reset replacing a ReLU: ``V_th = λ``, output ``λ·S``.

    Args:
        scale: threshold ``λ``: a scalar tensor (per layer) or ``[C]`` (per channel,
            channel = dim 1 of the ANN activation ``[N, C, ...]``).
        initial_membrane: initial membrane as a fraction of ``V_th`` (0.5 -> ``V_th/2``).
        surrogate: surrogate gradient for BPTT fine-tuning (hybrid training).
        learn_threshold: make ``λ`` a trainable parameter (else a buffer).
        neuron: ``"if"`` (default: the rate-coding model conversion assumes) or, for hybrid
            experiments, ``"lif"``/``"plif"`` (their leak biases rates below ReLU).
        neuron_kwargs: further neuron options (e.g. ``detach_reset``, ``tau``).

    Shapes: input/output ``[T·B, ...]`` (spiking mode) or ``[N, ...]`` (analog mode).
    """

    def __init__(
        self,
        scale: torch.Tensor | float = 1.0,
        initial_membrane: float = 0.5,
        surrogate: SurrogateLike = "atan",
        learn_threshold: bool = False,
        neuron: str = "if",
        **neuron_kwargs: Any,
    ) -> None:
        super().__init__()
        if neuron not in NEURON_CHOICES:
            raise ValueError(
                f"converted neurons must be one of {', '.join(NEURON_CHOICES)}, got {neuron!r}"
            )
        for key in ("v_th", "reset", "learn_threshold"):
            if key in neuron_kwargs:
                raise TypeError(f"ConvertedIF sets {key!r} itself; remove it from neuron_kwargs")
        if not 0.0 <= initial_membrane < 1.0:
            raise ValueError(f"initial_membrane must be in [0, 1), got {initial_membrane!r}")
        scale = torch.as_tensor(scale, dtype=torch.float32).clone()
        _check_scale(scale)
        if learn_threshold:
            self.scale = nn.Parameter(scale)
        else:
            self.register_buffer("scale", scale)
        self.initial_membrane = float(initial_membrane)
        self.neuron = create_neuron(
            neuron, v_th=1.0, reset="subtract", surrogate=surrogate, **neuron_kwargs
        )

    def set_scale(self, scale: torch.Tensor) -> None:
        """Replace ``λ`` (after calibration) keeping parameter/buffer status.

        ``λ`` must be finite and > 0 (a scalar or ``[C]``), as at construction."""
        scale = scale.detach().to(self.scale)
        _check_scale(scale, self.site)
        if isinstance(self.scale, nn.Parameter):
            self.scale = nn.Parameter(scale)
        else:
            self.scale = scale

    def _broadcast_scale(self, ndim: int) -> torch.Tensor:
        """``λ`` shaped to broadcast over a step input with ``ndim`` dims ``[B, C, ...]``."""
        scale = self.scale.clamp_min(1e-6)
        if scale.dim() == 0:
            return scale
        return scale.view(-1, *([1] * (ndim - 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.context.mode == ANALOG:
            out = F.relu(x)
            observer = self.context.observers.get(self.site)
            if observer is not None:
                observer(out.detach())
            return out
        seq = self._unfold(x)  # [T, B, ...]
        scale = self._broadcast_scale(seq.dim() - 1)
        seq = seq / scale  # membrane in units of λ: IF with v_th = 1
        if not self.context.streaming:
            # From rest: V[-1] = initial_membrane is the same as adding it to X[0]; calling
            # the IF module (not .run) lets forward hooks (firing-rate monitors) see it.
            offset = torch.zeros_like(seq[:1]) + self.initial_membrane
            spikes = self.neuron(torch.cat([seq[:1] + offset, seq[1:]]))
        else:
            state = self.context.states_in.get(self.site)
            if state is None:
                state = LIFState(v=torch.full_like(seq[0], self.initial_membrane))
            spikes, state = self.neuron.run(seq, state)
            self.context.states_out[self.site] = state
        return (spikes * scale).flatten(0, 1)

    def extra_repr(self) -> str:
        kind = "per-channel" if self.scale.dim() else "per-layer"
        learn = ", learnable" if isinstance(self.scale, nn.Parameter) else ""
        return f"{kind} V_th{learn}, initial_membrane={self.initial_membrane}"


class SpikingMaxPool(_TimeAware):
    """Max-pool for rate-coded spikes: per window, pass the input that has spiked most so far.

    A gate on the cumulative spike count (Rueckauer et al., 2017): at each step the window's
    output is the current value of the input with the largest running sum (first on ties),
    so the output rate tends to the largest input rate, as a max-pool of rates would.
    Analog mode: an ordinary max-pool. Args as :func:`torch.nn.functional.max_pool2d`.
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode

    def _pool(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.max_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            ceil_mode=self.ceil_mode,
            return_indices=True,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"SpikingMaxPool expects [N, C, H, W], got shape {tuple(x.shape)}")
        if self.context.mode == ANALOG:
            return self._pool(x)[0]
        seq = self._unfold(x)  # [T, B, C, H, W]
        counts = seq.detach().cumsum(0)
        if self.context.streaming:
            start = self.context.states_in.get(self.site)
            if start is not None:
                counts = counts + start
            self.context.states_out[self.site] = counts[-1]
        # Break ties towards the current value so a window with equal counts still pools.
        _, index = self._pool((counts + 1e-3 * seq.detach()).flatten(0, 1))
        values = x.flatten(2).gather(2, index.flatten(2))
        return values.view_as(index)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
