r"""Residual joins for spiking ResNets, and the SynA attention gate.

Joins take the residual-path output ``A`` and the shortcut ``S`` (same shape, usually
``[T, B, C, H, W]`` spikes) and return one tensor of that shape:

- SEW connect functions (Fang et al., "Deep Residual Learning in Spiking Neural
  Networks", NeurIPS 2021): ``ADD: A + S``, ``AND: A·S``, ``IAND: (1 - A)·S``.
- OR join (Shan et al., "SynA-ResNet: Spike-driven ResNet Achieved through OR Residual
  Connection", arXiv:2311.06570): ``A + S - A·S``, the logical OR on binary inputs, so
  the output stays binary and the next layer stays spike-driven (ADD can emit 2).

:class:`SynAGate` is the Synergistic Attention gate of the same paper. Our reading of the
authors' code (``Ym-Shan/ORRC-SynA-natural-pruning``): a CBAM/MA-SNN-style squeeze
(average and max pooling, shared two-layer MLP) computes attention logits;

- the *promotion* gate on the residual path is ``sigmoid(logits)`` (real, in (0, 1)),
- the *inhibition* gate on the shortcut is a spiking neuron fed the logits, i.e. a
  binary {0, 1} mask that can switch the shortcut off ("natural pruning").

The promoted signal is ``ReLU(gate · x)`` as in the authors' code. Two deliberate
deviations on the inhibition side: its output is ``gate · x`` without the ReLU (ReLU'(0)
= 0 would cut every gradient to a closed gate, so a gate closed at initialisation could
never reopen), and its logits get a learnable offset ``open_bias`` (default 3, i.e.
above a unit threshold even after a τ = 2 leak) so that shortcuts start open and
training, not initialisation, decides which ones to prune.

The authors' code squeezes over (C, H, W) and attends over time with an MLP of width
``T`` (so the model is tied to one ``T``); ``axis="time"`` reproduces that, while
``axis="channel"`` (the default here) attends over channels (MA-SNN channel attention,
left commented out in the authors' code) and works for any ``T``. That default, and
gating identity shortcuts (the authors' ResNet only joins at down-sampling blocks), are
our choices, not the paper's.

The authors' gate exactly (METHODS §15), as ``or_resnet18(variant="official")`` builds
it: ``axis="time"``, ``hidden=T // 4`` (MLP ``T -> T/4 -> T``), and for the inhibition
gate ``open_bias=None`` (no offset) and ``rectify=True`` (``ReLU(gate · x)``, the same
output form as the promotion gate).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .._validation import check_choice, check_sequence

CONNECT_FUNCTIONS = ("add", "and", "iand", "or")


def sew_add(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """SEW ADD: ``A + S`` (not binary: 1 + 1 = 2)."""
    return a + s


def sew_and(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """SEW AND: ``A · S`` (binary on binary inputs)."""
    return a * s


def sew_iand(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """SEW IAND: ``(1 - A) · S`` — the shortcut passes where the residual path is silent."""
    return (1.0 - a) * s


def spike_or(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """OR join: ``A + S - A·S`` (binary on binary inputs; differentiable in both)."""
    return a + s - a * s


_JOINS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "add": sew_add,
    "and": sew_and,
    "iand": sew_iand,
    "or": spike_or,
}


def connect(a: torch.Tensor, s: torch.Tensor, mode: str) -> torch.Tensor:
    """Join residual output ``a`` and shortcut ``s`` (same shape) with ``mode``.

    Args:
        a: residual-path output ``A``, e.g. ``[T, B, C, H, W]``.
        s: shortcut ``S``, same shape as ``a``.
        mode: one of ``"add"``, ``"and"``, ``"iand"``, ``"or"``.
    """
    check_choice(mode, "connect", CONNECT_FUNCTIONS)
    if not isinstance(a, torch.Tensor) or not isinstance(s, torch.Tensor):
        raise TypeError(
            f"connect expects two tensors, got {type(a).__name__} and {type(s).__name__}"
        )
    if a.shape != s.shape:
        raise ValueError(
            f"residual output and shortcut must have the same shape, got "
            f"{tuple(a.shape)} (residual) and {tuple(s.shape)} (shortcut)"
        )
    return _JOINS[mode](a, s)


class SpikeJoin(nn.Module):
    """Module form of :func:`connect`: ``join(a, s)`` -> same shape as both.

    Args:
        mode: ``"add"``, ``"and"``, ``"iand"`` (SEW) or ``"or"`` (SynA-ResNet).
    """

    def __init__(self, mode: str = "add") -> None:
        super().__init__()
        self.mode = check_choice(mode, "connect", CONNECT_FUNCTIONS)

    def forward(self, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return connect(a, s, self.mode)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class SynAGate(nn.Module):
    """SynA attention gate over ``[T, B, C, H, W]`` -> same shape (see module docstring).

    Args:
        channels: C of the gated tensor.
        mode: ``"promote"`` (sigmoid gate, residual path) or ``"inhibit"`` (spiking
            binary gate, shortcut).
        axis: ``"channel"`` (one weight per (t, b, c); any T) or ``"time"`` (one weight
            per (t, b), MLP over T as in the authors' code; needs ``num_steps``).
        num_steps: T, required for ``axis="time"``.
        reduction: MLP hidden width is ``dim // reduction``, at least ``min(dim, 8)``.
        neuron: spiking module for ``mode="inhibit"`` (input/output ``[T, B, ...]``);
            defaults to a LIF neuron, as the authors use.
        open_bias: initial learnable offset of the inhibition logits (ignored when
            promoting); large enough that the gate starts open. ``None``: no offset
            (and no parameter), as the authors' code.
        hidden: MLP hidden width; ``None`` -> ``dim // reduction``, at least
            ``min(dim, 8)`` (the authors use ``T // 4``: pass it to match them).
        rectify: output ``ReLU(gate · x)`` (``True``) or ``gate · x`` (``False``);
            ``None`` -> ``True`` when promoting, ``False`` when inhibiting (see the
            module docstring; the authors rectify both).
    """

    def __init__(
        self,
        channels: int,
        mode: str = "promote",
        axis: str = "channel",
        num_steps: int | None = None,
        reduction: int = 4,
        neuron: nn.Module | None = None,
        open_bias: float | None = 3.0,
        hidden: int | None = None,
        rectify: bool | None = None,
    ) -> None:
        super().__init__()
        self.mode = check_choice(mode, "mode", ("promote", "inhibit"))
        self.axis = check_choice(axis, "axis", ("channel", "time"))
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive int, got {channels!r}")
        if not isinstance(reduction, int) or reduction < 1:
            raise ValueError(f"reduction must be a positive int, got {reduction!r}")
        if axis == "time" and (not isinstance(num_steps, int) or num_steps < 1):
            raise ValueError(f"axis='time' needs num_steps=T (a positive int), got {num_steps!r}")
        self.channels = channels
        self.num_steps = num_steps
        if hidden is not None and (
            not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1
        ):
            raise ValueError(f"hidden must be a positive int or None, got {hidden!r}")
        if rectify is not None and not isinstance(rectify, bool):
            raise TypeError(f"rectify must be True, False or None, got {rectify!r}")
        dim = channels if axis == "channel" else int(num_steps)  # type: ignore[arg-type]
        if hidden is None:
            # Never narrower than min(dim, 8): a few ReLUs fed non-negative spike statistics
            # (no bias) can all be dead at init, which silently freezes the gate.
            hidden = min(dim, max(8, dim // reduction))
        # One MLP shared by the average- and max-pooled descriptors (CBAM / MA-SNN).
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden, bias=False), nn.ReLU(), nn.Linear(hidden, dim, bias=False)
        )
        if mode == "inhibit" and neuron is None:
            from ..neurons.lif import LIF

            neuron = LIF()
        self.neuron = neuron if mode == "inhibit" else None
        self.rectify = (self.neuron is None) if rectify is None else rectify
        self.open_bias: nn.Parameter | None = None
        if self.neuron is not None and open_bias is not None:
            self.open_bias = nn.Parameter(torch.tensor(float(open_bias)))

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.axis == "channel":
            # [T, B, C, H, W] -> [T, B, C]: squeeze space, attend over channels.
            avg, peak = x.mean(dim=(3, 4)), x.amax(dim=(3, 4))
            return (self.mlp(avg) + self.mlp(peak))[..., None, None]
        # [T, B, C, H, W] -> [B, T]: squeeze (C, H, W), attend over time steps.
        flat = x.flatten(2)
        avg, peak = flat.mean(2).t(), flat.amax(2).t()
        logits = (self.mlp(avg) + self.mlp(peak)).t()
        return logits[:, :, None, None, None]

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """Attention weights, broadcastable to ``x``: ``[T, B, C, 1, 1]`` (channel axis)
        or ``[T, B, 1, 1, 1]`` (time axis); in (0, 1) when promoting, {0, 1} when
        inhibiting."""
        check_sequence(x, "SynAGate input", min_dim=5)
        if x.dim() != 5 or x.shape[2] != self.channels:
            raise ValueError(
                f"SynAGate expects [T, B, {self.channels}, H, W], got shape {tuple(x.shape)}"
            )
        if self.axis == "time" and x.shape[0] != self.num_steps:
            raise ValueError(
                f"SynAGate(axis='time') was built for T={self.num_steps} steps, got "
                f"T={x.shape[0]} (shape {tuple(x.shape)}); use axis='channel' for any T"
            )
        logits = self._logits(x)
        if self.neuron is None:
            return torch.sigmoid(logits)
        # A spiking gate: binary, so a shortcut can be switched off completely.
        if self.open_bias is not None:
            logits = logits + self.open_bias
        return self.neuron(logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[T, B, C, H, W]`` -> ``ReLU(gate · x)`` (``rectify``; by default when
        promoting) or ``gate · x`` (by default when inhibiting), same shape."""
        gated = self.gate(x) * x
        # ReLU as in the authors' code: it clips negative (inhibitory) current, so the
        # gate can only weaken what reaches the next neuron, never invert it.
        return torch.relu(gated) if self.rectify else gated

    def extra_repr(self) -> str:
        steps = f", num_steps={self.num_steps}" if self.axis == "time" else ""
        hidden = self.mlp[0].out_features
        return (
            f"channels={self.channels}, mode={self.mode!r}, axis={self.axis!r}{steps}, "
            f"hidden={hidden}, rectify={self.rectify}"
        )
