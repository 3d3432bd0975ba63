r"""Reversible training of T-RevSNN's columns (METHODS §11): forward without keeping
activations, backward by rebuilding every earlier state from the later one.

One column ``t`` (one time step) maps the four key-node states ``c^{t-1} → c^t``:

.. code-block:: text

    c_0^t = α_0⊙c_0^{t-1} + F_0(x_t,    c_1^{t-1})      F_l = B_l(D_l(·) + U_l(·))
    c_1^t = α_1⊙c_1^{t-1} + F_1(c_0^t,  c_2^{t-1})
    c_2^t = α_2⊙c_2^{t-1} + F_2(c_1^t,  c_3^{t-1})
    c_3^t = α_3⊙c_3^{t-1} + F_3(c_2^t)

and is inverted top level first: ``c_3^{t-1} = (c_3^t − F_3(c_2^t))/α_3`` needs only
``c^t``, then ``c_2^{t-1} = (c_2^t − F_2(c_1^t, c_3^{t-1}))/α_2`` uses the state just
rebuilt, and so on down to level 0. The first column has no ``α`` and no ``U`` (``c^0 = 0``).

:class:`ReversibleColumns` runs all T columns under ``no_grad`` and keeps only the
input ``x`` ``[T, B, C_0, H, W]`` (usually an expanded view of one stem output), the final
states ``c^T`` and the random-number state before every ``F_l`` call. Its backward walks
``t = T … 1``: it recomputes each ``F_l`` (the random-number state restored, so
drop-path masks repeat; BatchNorm running statistics restored afterwards, so a training
step updates them once — in the forward — as plain BPTT does), backpropagates the
gradient of ``c_l^t`` through it one block at a time (:func:`_level_backward`), and
rebuilds ``c_l^{t-1}``. The
gradient to ``c_l^{t-1}`` is ``α_l·g_l`` plus the multi-level link's path through level
``l−1``'s ``U``; ``∂L/∂α_l = Σ g_l ⊙ c_l^{t-1}`` over batch and space.

Memory kept from forward to backward: ``x``, ``c^T`` and the RNG states — independent of
the blocks per stage (and of T, but for the ``[T, B, C_3, H, W]`` stack of top-level
states the per-step heads read). In backward: one block's graph at a time plus one
state-sized input per block of the level being recomputed. The price is compute: each
block but a level's last runs three times forward (forward, graph-free recomputation,
recomputation with grad), the last twice (its graph-free output would equal the rerun's),
against once under BPTT.

The columns are duck-typed (see :mod:`.trevsnn`): ``column.levels[l](below, above)`` is
``F_l = blocks(mix(below, above))`` with ``level.mix`` (``D + U``), ``level.blocks``,
``level.down`` / ``level.up`` (``None`` where absent); ``column.alphas[l]`` is ``α_l``
``[C_l]`` (absent on the first column).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

LEVELS = 4

States = list[torch.Tensor]


def _scale(alpha: torch.Tensor) -> torch.Tensor:
    """``α`` ``[C]`` shaped to multiply a state ``[B, C, H, W]``."""
    return alpha.view(1, -1, 1, 1)


def column_step(
    column: nn.Module, x: torch.Tensor, states: Sequence[torch.Tensor] | None
) -> States:
    """One column: ``c^{t-1}`` (``None`` for the first column) → ``c^t``, four tensors
    ``[B, C_l, H_l, W_l]``; ``x`` is the stem output ``[B, C_0, H_0, W_0]``."""
    new: States = []
    for level in range(LEVELS):
        below = x if level == 0 else new[level - 1]
        above = None if states is None or level == LEVELS - 1 else states[level + 1]
        out = column.levels[level](below, above)
        if states is not None:
            out = out + _scale(column.alphas[level]) * states[level]
        new.append(out)
    return new


def run_columns(columns: Sequence[nn.Module], xs: torch.Tensor) -> tuple[torch.Tensor, States]:
    """All columns, plainly (autograd keeps what it needs): ``xs`` ``[T, B, C_0, H, W]``
    → (``c_3^t`` stacked ``[T, B, C_3, H_3, W_3]``, final states ``c^T``)."""
    states: States | None = None
    tops = []
    for t, column in enumerate(columns):
        states = column_step(column, xs[t], states)
        tops.append(states[LEVELS - 1])
    assert states is not None
    return torch.stack(tops), states


def invert_step(column: nn.Module, x: torch.Tensor, states: Sequence[torch.Tensor]) -> States:
    """``c^t`` → ``c^{t-1}`` by the inverse (top level first), without grad; refused for
    the first column (it has no ``α``: ``c^0 = 0``)."""
    if not hasattr(column, "alphas"):
        raise ValueError("the first column has no inverse: its previous states are c^0 = 0")
    prev: list[torch.Tensor | None] = [None] * LEVELS
    with torch.no_grad():
        for level in reversed(range(LEVELS)):
            below = x if level == 0 else states[level - 1]
            above = None if level == LEVELS - 1 else prev[level + 1]
            out = column.levels[level](below, above)
            prev[level] = (states[level] - out) / _scale(column.alphas[level])
    return [p for p in prev if p is not None]


@contextmanager
def frozen_batchnorm_stats(module: nn.Module) -> Iterator[None]:
    """Restore every BatchNorm running statistic (mean, var, batch count) of ``module``
    on exit: a recomputation must not count the same batch twice."""
    saved = [
        (m, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
        for m in module.modules()
        if isinstance(m, _BatchNorm) and m.track_running_stats and m.running_mean is not None
    ]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, mean, var, count in saved:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)


def _rng_state(device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_rng_state(state: tuple[torch.Tensor, torch.Tensor | None], device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def _accumulate(total: dict[int, torch.Tensor], params: Sequence[torch.Tensor], grads: Any) -> None:
    for p, g in zip(params, grads, strict=True):
        if g is not None:
            total[id(p)] = g if id(p) not in total else total[id(p)] + g


def _grad(
    out: torch.Tensor, inputs: list[torch.Tensor], module: nn.Module, g: torch.Tensor, grads: dict
) -> list[torch.Tensor]:
    """Backpropagate ``g`` from ``out``: the parameters' gradients are added to ``grads``,
    the inputs' returned (zeros where an input does not reach ``out``)."""
    own = [p for p in module.parameters() if p.requires_grad]
    got = torch.autograd.grad(out, inputs + own, g, allow_unused=True)
    _accumulate(grads, own, got[len(inputs) :])
    return [torch.zeros_like(x) if d is None else d for x, d in zip(inputs, got, strict=False)]


def _level_backward(
    level: nn.Module,
    below: torch.Tensor,
    above: torch.Tensor | None,
    g: torch.Tensor,
    rng: tuple[torch.Tensor, torch.Tensor | None],
    device: torch.device,
    grads: dict[int, torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Recompute ``F_l(below, above)`` and backpropagate ``g`` through it, one block at a
    time: a graph-free pass keeps each block's input (one state-sized tensor per block;
    it stops before the last block), then each block is re-run with grad from its
    input, last block first, so only one block's graph exists at once; the last block's
    rerun gives ``F_l``. Returns (``F_l`` without graph, ``∂/∂below``,
    ``∂/∂above``). The random-number state is restored before the mixing ``D + U`` and
    recorded before each block, as the forward drew it; BatchNorm statistics are put back
    after (and only after: its backward checks the saved buffers are unchanged)."""
    blocks = list(level.blocks)
    with frozen_batchnorm_stats(level):
        _set_rng_state(rng, device)
        with torch.no_grad():
            z = level.mix(below, above)
            inputs, states = [], []
            for i, block in enumerate(blocks):
                inputs.append(z)
                states.append(_rng_state(device))
                if i < len(blocks) - 1:  # the last block's output comes from its rerun
                    z = block(z)
        out: torch.Tensor | None = None
        for block, x, state in zip(
            reversed(blocks), reversed(inputs), reversed(states), strict=True
        ):
            x = x.detach().requires_grad_()
            _set_rng_state(state, device)
            with torch.enable_grad():
                y = block(x)
            if out is None:
                out = y.detach()
            (g,) = _grad(y, [x], block, g, grads)
        assert out is not None
        ins = [below.detach().requires_grad_()]
        if above is not None:
            ins.append(above.detach().requires_grad_())
        _set_rng_state(rng, device)
        with torch.enable_grad():
            mixed = level.mix(*ins)
        shallow = nn.ModuleList(m for m in (level.down, level.up) if m is not None)
        got = _grad(mixed, ins, shallow, g, grads)
    return out, got[0], got[1] if above is not None else None


class ReversibleColumns(torch.autograd.Function):
    """``apply(columns, xs, *params)`` → ``c_3^t`` for every t ``[T, B, C_3, H_3, W_3]``.

    ``columns``: the T column modules; ``xs``: ``[T, B, C_0, H_0, W_0]``; ``params``: every
    trainable parameter of the columns, each once (shared modules included once), so
    autograd hands their gradients out as it would for a plain forward.
    """

    @staticmethod
    def forward(ctx: Any, columns: Sequence[nn.Module], xs: torch.Tensor, *params: torch.Tensor):  # type: ignore[override]
        device = xs.device
        rng: list[list[tuple[torch.Tensor, torch.Tensor | None]]] = []
        states: States | None = None
        tops = []
        with torch.no_grad():
            for t, column in enumerate(columns):
                rng.append([])
                new: States = []
                for level in range(LEVELS):
                    rng[t].append(_rng_state(device))
                    below = xs[t] if level == 0 else new[level - 1]
                    above = None if states is None or level == LEVELS - 1 else states[level + 1]
                    out = column.levels[level](below, above)
                    if states is not None:
                        out = out + _scale(column.alphas[level]) * states[level]
                    new.append(out)
                states = new
                tops.append(states[LEVELS - 1])
        assert states is not None
        ctx.columns, ctx.rng, ctx.params = columns, rng, params
        ctx.save_for_backward(xs, *states)
        return torch.stack(tops)

    @staticmethod
    def backward(ctx: Any, grad_tops: torch.Tensor):  # type: ignore[override]
        xs, *final = ctx.saved_tensors
        columns, rng, params = ctx.columns, ctx.rng, ctx.params
        device = xs.device
        grads: dict[int, torch.Tensor] = {}
        grad_xs = torch.zeros_like(xs)
        g = [torch.zeros_like(c) for c in final]  # ∂L/∂c_l^t, complete once level l runs
        states: States = [c.detach() for c in final]
        cuda = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            for t in reversed(range(len(columns))):
                column = columns[t]
                first = not hasattr(column, "alphas")
                g[LEVELS - 1] = g[LEVELS - 1] + grad_tops[t]
                prev: list[torch.Tensor | None] = [None] * LEVELS
                g_prev = [torch.zeros_like(c) for c in states]
                for level in reversed(range(LEVELS)):
                    module = column.levels[level]
                    below = (xs[t] if level == 0 else states[level - 1]).detach().requires_grad_()
                    above = None
                    if not first and level < LEVELS - 1:
                        above = prev[level + 1].detach().requires_grad_()  # type: ignore[union-attr]
                    out, got_below, got_above = _level_backward(
                        module, below, above, g[level], rng[t][level], device, grads
                    )
                    if level == 0:
                        grad_xs[t] += got_below
                    else:
                        g[level - 1] = g[level - 1] + got_below
                    if got_above is not None:
                        g_prev[level + 1] = g_prev[level + 1] + got_above
                    if first:
                        continue
                    alpha = column.alphas[level]
                    with torch.no_grad():
                        prev[level] = (states[level] - out.detach()) / _scale(alpha)
                        g_prev[level] = g_prev[level] + _scale(alpha) * g[level]
                        if alpha.requires_grad:
                            _accumulate(grads, [alpha], [(g[level] * prev[level]).sum((0, 2, 3))])
                if first:
                    break
                states = [p for p in prev if p is not None]
                g = g_prev
        return (None, grad_xs, *[grads.get(id(p)) for p in params])


def reversible_columns(columns: Sequence[nn.Module], xs: torch.Tensor) -> torch.Tensor:
    """:class:`ReversibleColumns` on ``columns`` and ``xs`` ``[T, B, C_0, H, W]`` →
    ``[T, B, C_3, H_3, W_3]`` (same values as :func:`run_columns`'s first output)."""
    seen: set[int] = set()
    params = []
    for column in columns:
        for p in column.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    return ReversibleColumns.apply(columns, xs, *params)
