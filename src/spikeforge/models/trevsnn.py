r"""T-RevSNN: temporal-reversible spiking network (Hu et al., ICML 2024; METHODS §11).

Each time step is a *column* (a sub-network with its own weights), each stage a level;
the only variables carried across time are four per-stage key-node states ``c_l^t``:

.. code-block:: text

    c_0^t = α_0⊙c_0^{t-1} + B_0( x           + U_0(c_1^{t-1}) )
    c_1^t = α_1⊙c_1^{t-1} + B_1( D_1(c_0^t)  + U_1(c_2^{t-1}) )
    c_2^t = α_2⊙c_2^{t-1} + B_2( D_2(c_1^t)  + U_2(c_3^{t-1}) )
    c_3^t = α_3⊙c_3^{t-1} + B_3( D_3(c_2^t) )

with ``c^0 = 0`` and no ``U`` terms (nor ``α``) in the first column. The neurons are
the stateless spike function :func:`spike_q` (``Θ(x − 0.5)`` on ``clip(x, 0, 1)``, fires
at equality, straight-through gradient on ``[0, 1]``); consumers read a state as
``Q(c)``. ``D_l = BN(Conv(Q(c)))`` (3×3/2 for l = 1, 2; 1×1/1 for l = 3), ``U_l =
Up×2(BN(Conv1×1(Q(c))))`` (l = 0, 1), ``U_2 = BN(Conv1×1(Q(c)))``. ``B_l`` is
``blocks`` spiking ConvNeXt blocks :class:`SpikingConvNeXtBlock` (the paper: 2); the last
block's second pointwise and depthwise convs are one module per stage shared by all T
columns. ``|α|`` is clamped to ≥ 1e-3, sign kept, before every forward (the update stays
invertible).

The stem (two weight-standardised convs, no nonlinearity between — the official code's
``leaky_relu`` has slope 1) runs once per image; a static image (``[B, C, H, W]``, or a
direct-encoded ``[T, B, C, H, W]`` whose frames are all equal) feeds every column, other
sequences give each column its own frame. Heads: steps 1..T−1 ``GAP(c_3^t) → WS 1×1``
(analog), step T ``Q(c_3^T) → GAP → WS 1×1 → WS 1×1``.

Outputs (``readout_kind = "membrane"``, analog): in training ``[T, B, N]``, one head per
step (the objective ``trevsnn`` of :mod:`spikeforge.losses.trevsnn` weights them); in
eval mode ``[1, B, N]``, the last head only — evaluation uses only it, and the other
heads are not computed (so ``spikeforge energy`` counts what inference does).

Training runs through :class:`~.trevsnn_reversible.ReversibleColumns` (``reversible=True``,
the default: activations are recomputed in backward) or plain autograd
(``reversible=False``, BPTT) — the same function, the same gradients.

Presets: ``trevsnn_tiny`` (channels 64-128-256-384) and ``trevsnn_small`` (96-192-384-512),
ImageNet stem 7×7/2 + 3×3/2, depthwise kernel 5, T = 4; ``trevsnn_cifar`` for small
images on a CPU (see :func:`trevsnn_cifar`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..analysis.ops import OpCounts, count_operations
from ..surrogates import SurrogateLike, resolve_surrogate
from .registry import MODELS
from .trevsnn_reversible import LEVELS, column_step, reversible_columns, run_columns

#: |α| never goes below this (METHODS §11: keeps the column update invertible).
ALPHA_MIN = 1e-3
ALPHA_INIT = 0.5


class _SpikeQ(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        # A bool mask is all backward needs: 1 byte per element instead of the input.
        # In place and straight into the float output: two fewer passes over memory and
        # two fewer fresh buffers than `(x >= 0) & (x <= 1)` and `(x >= 0.5).to(dtype)`.
        inside = x >= 0
        inside &= x <= 1
        ctx.save_for_backward(inside)
        return torch.ge(x, 0.5, out=torch.empty_like(x))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (inside,) = ctx.saved_tensors
        return grad * inside


def spike_q(x: torch.Tensor) -> torch.Tensor:
    r"""``Q(x) = ⌊clip(x, 0, 1) + 0.5⌋ = Θ(x − 0.5)`` (``x = 0.5`` fires), any shape;
    backward straight-through: ``∂Q/∂x = 1[0 ≤ x ≤ 1]``. Same in training and eval."""
    return _SpikeQ.apply(x)


class SpikeQ(nn.Module):
    """:func:`spike_q` as a module (so activity hooks and op counters can see it); a
    spiking layer for firing rates (``emits_spikes``), called once per column."""

    emits_spikes = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return spike_q(x)


class WSConv2d(nn.Conv2d):
    r"""Weight-standardised conv: ``W' = gain·(W − mean)/√(var + 1e-6)/√fan_in`` per output
    channel (mean and biased variance over ``[C_in/groups, k, k]``), ``gain`` init 1."""

    def __init__(self, *args: Any, eps: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gain = nn.Parameter(torch.ones(self.out_channels, 1, 1, 1))
        self.eps = eps

    def standardized_weight(self) -> torch.Tensor:
        w = self.weight
        fan_in = w[0].numel()
        mean = w.mean((1, 2, 3), keepdim=True)
        var = w.var((1, 2, 3), keepdim=True, unbiased=False)
        return self.gain * (w - mean) / torch.sqrt(var + self.eps) / math.sqrt(fan_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(
            x,
            self.standardized_weight(),
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )


def _depthwise(channels: int, kernel_size: int) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels)


class SharedConvs(nn.Module):
    """The second pointwise (4C → C) and depthwise convs of a stage's last block: one
    module, referenced by every column's block (one tensor each, gradients summed)."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.pw = WSConv2d(4 * channels, channels, 1)
        self.dw = _depthwise(channels, kernel_size)


class SpikingConvNeXtBlock(nn.Module):
    r"""``y + γ⊙DW₂(PW₂(Q(PW₁(DW₁(Q(y))))))``, ``[B, C, H, W]`` → same; hidden width 4C,
    ``γ`` per channel (init 1). ``shared``: take PW₂/DW₂ from a :class:`SharedConvs`.
    ``drop_path``: the residual branch is dropped per sample with this probability in
    training (stochastic depth, scaled by ``1/(1 − p)``)."""

    def __init__(
        self,
        channels: int,
        kernel_size: int,
        shared: SharedConvs | None = None,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= drop_path < 1.0:
            raise ValueError(f"drop_path must be in [0, 1), got {drop_path!r}")
        self.q = SpikeQ()
        self.dw1 = _depthwise(channels, kernel_size)
        self.pw1 = WSConv2d(channels, 4 * channels, 1)
        if shared is None:
            self.pw2 = WSConv2d(4 * channels, channels, 1)
            self.dw2 = _depthwise(channels, kernel_size)
        else:
            self.pw2, self.dw2 = shared.pw, shared.dw
        self.gamma = nn.Parameter(torch.ones(channels))
        self.drop_path = drop_path

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        branch = self.dw2(self.pw2(self.q(self.pw1(self.dw1(self.q(y))))))
        branch = self.gamma.view(1, -1, 1, 1) * branch
        if self.training and self.drop_path > 0:
            keep = 1.0 - self.drop_path
            mask = torch.rand(y.shape[0], 1, 1, 1, dtype=y.dtype, device=y.device) < keep
            branch = branch * mask / keep
        return y + branch


class Resample(nn.Module):
    """``D``/``U``: ``Q → Conv(k, stride, no bias) → BN`` (→ nearest ×2 upsampling)."""

    def __init__(
        self, cin: int, cout: int, kernel_size: int, stride: int, upsample: bool = False
    ) -> None:
        super().__init__()
        self.q = SpikeQ()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride, kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.upsample = upsample

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        out = self.bn(self.conv(self.q(c)))
        return F.interpolate(out, scale_factor=2.0, mode="nearest") if self.upsample else out


class Level(nn.Module):
    """``F_l(below, above) = B_l(D_l(below) + U_l(above))`` of one column (``D_0`` is the
    identity on the stem output; ``above`` is ``None`` in the first column and at l = 3)."""

    def __init__(
        self,
        level: int,
        channels: Sequence[int],
        blocks: int,
        kernel_size: int,
        first: bool,
        shared: SharedConvs,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        c = channels[level]
        self.down = None
        if level in (1, 2):
            self.down = Resample(channels[level - 1], c, 3, 2)
        elif level == 3:
            self.down = Resample(channels[2], c, 1, 1)
        self.up = None
        if not first and level < LEVELS - 1:
            self.up = Resample(channels[level + 1], c, 1, 1, upsample=level < 2)
        self.blocks = nn.Sequential(
            *[
                SpikingConvNeXtBlock(c, kernel_size, shared if i == blocks - 1 else None, drop_path)
                for i in range(blocks)
            ]
        )

    def mix(self, below: torch.Tensor, above: torch.Tensor | None = None) -> torch.Tensor:
        """``D_l(below) + U_l(above)``, the blocks' input."""
        z = below if self.down is None else self.down(below)
        if above is not None:
            if self.up is None:
                raise ValueError("this level has no multi-level link U (first column or top level)")
            z = z + self.up(above)
        return z

    def forward(self, below: torch.Tensor, above: torch.Tensor | None = None) -> torch.Tensor:
        return self.blocks(self.mix(below, above))


class Column(nn.Module):
    """One time step's sub-network: four :class:`Level` s and (but for the first column)
    ``alphas[l]`` ``[C_l]``, init 0.5."""

    def __init__(
        self,
        channels: Sequence[int],
        blocks: int,
        kernel_size: int,
        first: bool,
        shared: Sequence[SharedConvs],
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.levels = nn.ModuleList(
            Level(lv, channels, blocks, kernel_size, first, shared[lv], drop_path)
            for lv in range(LEVELS)
        )
        if not first:  # c^0 = 0: the first column's α would multiply zeros (no gradient)
            self.alphas = nn.ParameterList(
                nn.Parameter(torch.full((c,), ALPHA_INIT)) for c in channels
            )


class AnalogHead(nn.Module):
    """Steps 1..T−1: ``GAP(c_3) → WS 1×1``; ``[B, C, H, W]`` → ``[B, N]``."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.fc = WSConv2d(channels, num_classes, 1)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        return self.fc(c.mean((2, 3), keepdim=True)).flatten(1)


class SpikingHead(nn.Module):
    """Step T: ``Q(c_3) → GAP → WS 1×1 → WS 1×1``; ``[B, C, H, W]`` → ``[B, N]``."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.q = SpikeQ()
        self.fc1 = WSConv2d(channels, num_classes, 1)
        self.fc2 = WSConv2d(num_classes, num_classes, 1)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(self.q(c).mean((2, 3), keepdim=True))).flatten(1)


class TRevSNN(nn.Module):
    """T-RevSNN (module docstring). Input ``[B, C, H, W]`` or ``[T, B, C, H, W]``;
    output ``[T, B, N]`` in training, ``[1, B, N]`` (the last head) in eval mode.

    Args:
        num_classes: outputs N.
        in_channels: image channels.
        channels: the four stage widths ``(C_0, C_1, C_2, C_3)``.
        timesteps: T, the number of columns (an input sequence must have T steps).
        blocks: ConvNeXt blocks per stage and column (≥ 1; the last one shares PW₂/DW₂).
        kernel_size: depthwise kernel.
        stem_kernel, stem_strides: the first stem conv's kernel; both stem convs' strides
            (the second conv is 3×3).
        reversible: train through :class:`~.trevsnn_reversible.ReversibleColumns`
            (``False``: plain BPTT through the same network).
        drop_path: stochastic-depth rate of every block (0 in the paper's config).
    """

    readout_kind = "membrane"
    # Each step is its own column (sub-network): the ANN twin of the energy counter runs
    # every column once, not one step's network (see analysis.energy.estimate_energy).
    distinct_step_networks = True

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        channels: Sequence[int] = (64, 128, 256, 384),
        timesteps: int = 4,
        blocks: int = 2,
        kernel_size: int = 5,
        stem_kernel: int = 7,
        stem_strides: Sequence[int] = (2, 2),
        reversible: bool = True,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) != LEVELS or min(channels) < 1:
            raise ValueError(f"channels must be 4 stage widths >= 1, got {channels!r}")
        for name, value in (
            ("timesteps", timesteps),
            ("blocks", blocks),
            ("num_classes", num_classes),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if len(stem_strides) != 2:
            raise ValueError(f"stem_strides must be 2 strides, got {stem_strides!r}")
        self.in_channels, self.channels, self.timesteps = in_channels, channels, timesteps
        self.reversible = bool(reversible)
        s0, s1 = (int(s) for s in stem_strides)
        self.stem = nn.Sequential(
            WSConv2d(in_channels, channels[0], stem_kernel, s0, stem_kernel // 2),
            WSConv2d(channels[0], channels[0], 3, s1, 1),
        )
        # Registered before the columns, so the shared convs' names are "shared.l.*".
        self.shared = nn.ModuleList(SharedConvs(c, kernel_size) for c in channels)
        self.columns = nn.ModuleList(
            Column(channels, blocks, kernel_size, t == 0, self.shared, drop_path)
            for t in range(timesteps)
        )
        self.heads = nn.ModuleList(
            [AnalogHead(channels[-1], num_classes) for _ in range(timesteps - 1)]
            + [SpikingHead(channels[-1], num_classes)]
        )

    def clamp_alphas(self) -> None:
        """``|α| ← max(|α|, 1e-3)``, sign kept (0 counts as positive), in place — and only
        when some ``|α|`` is below: an unneeded write would bump the parameter's version
        and break the backward of an earlier forward that saved it."""
        with torch.no_grad():
            for column in self.columns[1:]:
                for alpha in column.alphas:
                    if bool((alpha.abs() < ALPHA_MIN).any()):
                        sign = torch.where(alpha < 0, -1.0, 1.0).to(alpha.dtype)
                        alpha.copy_(sign * alpha.abs().clamp_min(ALPHA_MIN))

    def stem_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """The stem's output for every column, ``[T, B, C_0, H_0, W_0]``: one stem call on
        a static image (an expanded view: no copy), else one on every frame."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"input must be a tensor [B, C, H, W] or [T, B, C, H, W], got {type(x).__name__}"
            )
        T = self.timesteps
        if x.dim() == 5 and x.shape[2] == self.in_channels:
            if x.shape[0] != T:
                raise ValueError(
                    f"T-RevSNN has T={T} columns (model.kwargs.timesteps) but the input "
                    f"has {x.shape[0]} steps (shape {tuple(x.shape)}); set data.timesteps={T}"
                )
            if not torch.equal(x[1:], x[:1].expand_as(x[1:])):
                s = self.stem(x.flatten(0, 1))
                return s.view(T, x.shape[1], *s.shape[1:])
            x = x[0]  # direct encoding: one image repeated
        elif x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"input must be [B, {self.in_channels}, H, W] or [T, B, {self.in_channels}, H, W], "
                f"got shape {tuple(x.shape)}"
            )
        s = self.stem(x)
        return s.unsqueeze(0).expand(T, *s.shape)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``c_3^t`` for every step, ``[T, B, C_3, H_3, W_3]``."""
        self.clamp_alphas()
        xs = self.stem_inputs(x)
        if self.reversible and self.training and torch.is_grad_enabled():
            return reversible_columns(list(self.columns), xs)
        return run_columns(list(self.columns), xs)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tops = self.forward_features(x)
        if not self.training:
            return self.heads[-1](tops[-1]).unsqueeze(0)
        return torch.stack([head(tops[t]) for t, head in enumerate(self.heads)])


def step_operations(model: TRevSNN, inputs: torch.Tensor) -> dict[str, Any]:
    """Synaptic operations of one eval-mode inference (``model`` is left in eval mode),
    split as it runs: the stem (once),
    each column (time step) and the last head; each an :class:`~spikeforge.analysis.OpCounts`
    per sample (``inputs`` ``[T, B, C, H, W]`` or ``[B, C, H, W]``, real data: the spikes
    decide the accumulate counts). Their sum is what :func:`count_operations` counts on the
    whole model. Returns ``{"stem", "steps": [T], "head"}``."""
    model.eval()
    B = inputs.shape[1] if inputs.dim() == 5 else inputs.shape[0]
    with torch.no_grad():
        model.clamp_alphas()
        stem = count_operations(_Call(model.stem_inputs, model.stem), (inputs,), 1, B)
        xs = model.stem_inputs(inputs)
        states = None
        steps = []
        for t, column in enumerate(model.columns):
            call = _Call(lambda x, *s, c=column: _step(c, x, s), column)
            steps.append(count_operations(call, (xs[t], *(states or ())), 1, B))
            states = _step(column, xs[t], states)
        head = count_operations(model.heads[-1], (states[-1],), 1, B)
    return {"stem": stem, "steps": steps, "head": head}


def _step(column: nn.Module, x: torch.Tensor, states: Sequence[torch.Tensor] | None):
    return column_step(column, x, states or None)


class _Call(nn.Module):
    """A function as a module that owns ``inner`` (so the counter sees its parameters)."""

    def __init__(self, fn: Any, inner: nn.Module) -> None:
        super().__init__()
        self.fn, self.inner = fn, inner

    def forward(self, *args: Any) -> Any:
        return self.fn(*args)


def operation_summary(model: TRevSNN, inputs: torch.Tensor) -> dict[str, Any]:
    """MAC and AC operations per sample: stem, per step (column), head and total."""
    parts = step_operations(model, inputs)

    def ops(c: OpCounts) -> dict[str, float]:
        return {"mac": c.mac_ops, "ac": c.ac_ops}

    rows = [ops(c) for c in parts["steps"]]
    total = {
        k: ops(parts["stem"])[k] + sum(r[k] for r in rows) + ops(parts["head"])[k]
        for k in ("mac", "ac")
    }
    return {"stem": ops(parts["stem"]), "steps": rows, "head": ops(parts["head"]), "total": total}


def _check_neuron(
    name: str, neuron: Any, surrogate: SurrogateLike | None, neuron_kwargs: Any
) -> None:
    """T-RevSNN's neurons are Q by construction: ``neuron`` must be ``"q"``; a surrogate is
    checked (a bad one is named) and not used — Q's gradient is straight-through."""
    if neuron != "q":
        raise ValueError(
            f"{name} is built from the stateless spike function Q (METHODS §11), not an "
            f"injected neuron; set model.neuron=q, got {neuron!r}"
        )
    if neuron_kwargs:
        raise ValueError(
            f"{name}'s Q takes no neuron options, got neuron_kwargs={dict(neuron_kwargs)}"
        )
    if surrogate is not None:
        resolve_surrogate(surrogate, where="surrogate")


def _factory(name: str, defaults: dict[str, Any], doc: str):
    def build(
        num_classes: int = 10,
        in_channels: int = 3,
        neuron: Any = "q",
        surrogate: SurrogateLike | None = None,
        neuron_kwargs: dict[str, Any] | None = None,
        input_size: int | None = None,
        **kwargs: Any,
    ) -> TRevSNN:
        _check_neuron(name, neuron, surrogate, neuron_kwargs)
        options = dict(defaults)
        if callable(options.get("stem_strides")):
            options["stem_strides"] = options["stem_strides"](input_size)
        options.update(kwargs)
        return TRevSNN(num_classes=num_classes, in_channels=in_channels, **options)

    build.__name__ = name
    build.__doc__ = (
        f"{doc} Options as :class:`TRevSNN` (``channels``, ``timesteps``, ``blocks``, "
        '``reversible``, ...); ``neuron`` must be ``"q"``.'
    )
    return build


PAPER = {"kernel_size": 5, "stem_kernel": 7, "stem_strides": (2, 2), "timesteps": 4, "blocks": 2}

#: ``trevsnn_tiny`` / ``trevsnn_small``: the paper's ImageNet models (METHODS §11).
trevsnn_tiny = MODELS.register("trevsnn_tiny")(
    _factory(
        "trevsnn_tiny",
        {**PAPER, "channels": (64, 128, 256, 384)},
        "T-RevSNN tiny (64-128-256-384 channels, T=4, ImageNet stem; METHODS §11).",
    )
)
trevsnn_small = MODELS.register("trevsnn_small")(
    _factory(
        "trevsnn_small",
        {**PAPER, "channels": (96, 192, 384, 512)},
        "T-RevSNN small (96-192-384-512 channels, T=4, ImageNet stem; METHODS §11).",
    )
)


def _small_image_strides(input_size: int | None) -> tuple[int, int]:
    # 8×8 digits keep full resolution in stage 0 (8-4-2-2 after D_1, D_2); 32×32 CIFAR
    # halves once (16-8-4-4). The paper's 7×7/2 + 3×3/2 stem would leave 2×2 and 8×8.
    return (1, 1) if input_size is not None and input_size <= 16 else (1, 2)


#: ``trevsnn_cifar``: 16-32-64-128 channels, depthwise 3×3, a 3×3 stem (strides from the
#: input size), T = 4, 2 blocks — sized for digits / cifar10-small on 2 CPU cores.
trevsnn_cifar = MODELS.register("trevsnn_cifar")(
    _factory(
        "trevsnn_cifar",
        {
            "channels": (16, 32, 64, 128),
            "kernel_size": 3,
            "stem_kernel": 3,
            "stem_strides": _small_image_strides,
            "timesteps": 4,
            "blocks": 2,
        },
        "T-RevSNN for small images on a CPU (16-32-64-128 channels, 3x3 stem, T=4).",
    )
)
