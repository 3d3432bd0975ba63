"""Reversible training of T-RevSNN (``models/trevsnn_reversible.py``, METHODS §11): the
inverse rebuilds every earlier state, the reversible backward gives plain autograd's
gradients, BatchNorm statistics move once per step, random masks repeat, and what is
kept for backward does not grow with the blocks per stage."""

import pytest
import torch

from spikeforge.losses import TRevSNNLoss
from spikeforge.models import create
from spikeforge.models.trevsnn_reversible import (
    column_step,
    frozen_batchnorm_stats,
    invert_step,
    reversible_columns,
    run_columns,
)

T = 3


def _net(blocks: int = 2, drop_path: float = 0.0, timesteps: int = T, channels=(4, 6, 8, 8)):
    torch.manual_seed(0)
    model = create(
        "trevsnn_cifar",
        num_classes=3,
        in_channels=1,
        input_size=8,
        channels=channels,
        blocks=blocks,
        timesteps=timesteps,
        drop_path=drop_path,
    ).double()
    # Non-trivial α (some negative, some near the clamp) so the inverse is exercised.
    with torch.no_grad():
        for column in model.columns[1:]:
            for alpha in column.alphas:
                alpha.copy_(torch.empty_like(alpha).uniform_(-1.5, 1.5))
    return model


def _input(seed: int = 1, batch: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 2 * torch.rand(batch, 1, 8, 8, generator=g, dtype=torch.float64)


def test_the_inverse_rebuilds_every_earlier_state_in_float64():
    model = _net()
    model.train()
    xs = model.stem_inputs(_input()).detach()
    with torch.no_grad():
        model.clamp_alphas()
        states = [None]
        for t, column in enumerate(model.columns):
            states.append(column_step(column, xs[t], states[-1]))
        for t in range(2, T + 1):  # c^t -> c^{t-1}; c^0 = 0 needs no inverse
            rebuilt = invert_step(model.columns[t - 1], xs[t - 1], states[t])
            assert len(rebuilt) == 4
            for level, (got, want) in enumerate(zip(rebuilt, states[t - 1], strict=True)):
                assert want.abs().max() > 0.1, (t, level)  # a real state, not zeros
                assert (got - want).abs().max() <= 1e-10, (t, level)
    with pytest.raises(ValueError, match="first column has no inverse"):
        invert_step(model.columns[0], xs[0], states[1])


def _grads(model, x, y, reversible: bool):
    model.reversible = reversible
    model.train()
    model.zero_grad()
    out = model(x)
    TRevSNNLoss(label_smoothing=0.1)(out, y).backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("blocks", [1, 2, 3])
def test_reversible_gradients_equal_plain_autograd_in_float64(blocks):
    # one block: a level's only block is also its last (no graph-free block pass)
    model = _net(blocks=blocks)
    x, y = _input().requires_grad_(), torch.tensor([0, 1, 2, 1])
    out_r, rev = _grads(model, x, y, reversible=True)
    gx_r = x.grad.clone()
    x.grad = None
    # BN statistics moved once in the reversible step; reset them for the same BN input.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
    out_p, plain = _grads(model, x, y, reversible=False)
    assert torch.equal(out_r, out_p)
    assert (gx_r - x.grad).abs().max() <= 1e-8
    names = set(plain)
    assert names == set(rev)
    # Every kind of parameter is covered, and has a real gradient.
    for part in ("alphas", "gamma", "shared.0.pw.weight", "shared.3.dw.weight", "stem", "heads"):
        assert any(part in n and plain[n].abs().sum() > 0 for n in names), part
    for name in names:
        scale = max(1.0, plain[name].abs().max().item())
        assert (rev[name] - plain[name]).abs().max() <= 1e-8 * scale, name


def test_batchnorm_running_stats_move_once_per_step_as_under_bptt():
    x, y = _input(), torch.tensor([0, 1, 2, 1])
    stats = {}
    for reversible in (True, False):
        model = _net()
        _grads(model, x, y, reversible)
        stats[reversible] = {n: b.clone() for n, b in model.named_buffers()}
    fresh = dict(_net().named_buffers())
    counts = [n for n in stats[True] if n.endswith("num_batches_tracked")]
    assert counts and all(int(stats[True][n]) == 1 for n in counts)  # once, not twice
    for name, value in stats[True].items():
        assert torch.allclose(value, stats[False][name], rtol=0, atol=1e-12), name
    moved = [n for n in stats[True] if n.endswith("running_mean")]
    assert any(not torch.equal(stats[True][n], fresh[n]) for n in moved)


def test_frozen_batchnorm_stats_restores_mean_var_and_count():
    bn = torch.nn.BatchNorm2d(2)
    with frozen_batchnorm_stats(bn):
        bn(torch.randn(4, 2, 3, 3) + 5)
    assert torch.equal(bn.running_mean, torch.zeros(2)) and int(bn.num_batches_tracked) == 0


def test_random_masks_repeat_in_the_recomputation():
    # drop_path draws a mask per block call: the backward must restore the RNG state.
    x, y = _input(), torch.tensor([0, 1, 2, 1])
    results = {}
    for reversible in (True, False):
        model = _net(drop_path=0.5)
        torch.manual_seed(123)
        _, grads = _grads(model, x, y, reversible)
        results[reversible] = (grads, torch.get_rng_state())
    for name, g in results[False][0].items():
        assert (results[True][0][name] - g).abs().max() <= 1e-8 * max(1.0, g.abs().max()), name
    # and the global generator ends where a plain step leaves it
    assert torch.equal(results[True][1], results[False][1])


def test_the_function_matches_the_plain_columns_value():
    model = _net()
    model.train()
    xs = model.stem_inputs(_input())
    with torch.no_grad():
        plain = run_columns(list(model.columns), xs)[0]
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
    assert torch.equal(reversible_columns(list(model.columns), xs), plain)


def _saved_bytes(model, x) -> int:
    """Bytes of the distinct storages autograd keeps for backward after one forward."""
    storages = {}

    def pack(t):
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(storages.values())


def test_saved_memory_is_flat_in_blocks_per_stage_and_grows_under_bptt():
    x = _input(batch=8)
    saved = {}
    for reversible in (True, False):
        for blocks in (1, 4):
            model = _net(blocks=blocks)
            model.reversible = reversible
            model.train()
            params = sum(p.numel() * p.element_size() for p in model.parameters())
            # weights are saved by reference; count activations only
            saved[reversible, blocks] = _saved_bytes(model, x) - params
    assert saved[True, 4] <= 1.1 * saved[True, 1]
    assert saved[False, 4] > 2 * saved[False, 1]
    assert saved[False, 4] > 4 * saved[True, 4]
