"""Spike-aware saved tensors (``layers/memory.py``): bit-identical gradients and running
statistics with and without ``compact_activations`` on the zoo's csnn_tiny, a SEW-ResNet
and a Spikformer (both features, each alone); the saved bytes counted by the stats and,
independently, from what the hooks hand autograd; pack/unpack round trips and refusals;
the context's hygiene (nesting, exceptions, eval / no-grad, in-place checks)."""

from __future__ import annotations

import weakref
from typing import Any, ClassVar

import pytest
import torch
from torch import nn

from spikeforge.layers import ThresholdDependentBatchNorm, bn_exact, fold, memory
from spikeforge.layers.memory import (
    MemoryStats,
    PackedSpikes,
    compact_activations,
    pack_spikes,
    unpack_spikes,
)
from spikeforge.models import create
from spikeforge.neurons import LIF

_SAVED_TENSORS_HOOKS = torch.autograd.graph.saved_tensors_hooks  # before any monkeypatch
MODES = {
    "both": {},
    "spikes only": {"batch_norm": False},
    "bn only": {"spikes": False},
    "both, bn unfused": {"fuse_neurons": False},
    "bn only, unfused": {"spikes": False, "fuse_neurons": False},
}


def _model(name: str) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    if name.startswith("csnn_tiny"):
        model, x = create("csnn_tiny", num_classes=10, in_channels=1), torch.rand(4, 4, 1, 8, 8)
        if name.endswith("float64"):
            model, x = model.double(), x.double()
    elif name == "sew_resnet18":
        model = create("sew_resnet18", num_classes=10, in_channels=3, base_width=4, input_size=16)
        x = torch.rand(2, 2, 3, 16, 16)
    else:
        model = create(
            "spikformer", num_classes=10, in_channels=3, input_size=8, embed_dim=16, depth=1,
            heads=2,
        )  # fmt: skip
        x = torch.rand(2, 2, 3, 8, 8)
    return model.train(), x


def _step(
    model: nn.Module, x: torch.Tensor, **options: Any
) -> tuple[list[torch.Tensor], torch.Tensor, list[torch.Tensor], MemoryStats | None]:
    """One training step's gradients (parameters, input), buffers after it, and stats;
    with ``options`` the forward runs inside ``compact_activations`` and backward after."""
    x = x.clone().requires_grad_()
    stats = None
    if options.get("context", True):
        options.pop("context", None)
        with compact_activations(model, **options) as stats:
            out = model(x)
    else:
        out = model(x)
    (out.square().mean() + out.mean()).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    return grads, x.grad, [b.clone() for b in model.buffers()], stats


def _assert_identical(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b)
    for i, (u, v) in enumerate(zip(a, b, strict=True)):
        assert torch.equal(u, v), f"tensor {i} differs (max {float((u - v).abs().max())})"


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("name", ["csnn_tiny", "csnn_tiny_float64", "sew_resnet18", "spikformer"])
def test_gradients_and_running_stats_are_bit_identical(name, mode, monkeypatch):
    if not name.startswith("csnn_tiny"):  # small test inputs: let the small spike tensors pack too
        monkeypatch.setattr(memory, "MIN_ELEMENTS", 256)
    model, x = _model(name)
    ref_grads, ref_gx, ref_buffers, _ = _step(model, x, context=False)
    model, _ = _model(name)
    grads, gx, buffers, stats = _step(model, x, **MODES[mode])
    _assert_identical(grads, ref_grads)
    assert torch.equal(gx, ref_gx)
    _assert_identical(buffers, ref_buffers)  # running stats updated once, identically
    assert (stats.tensors_packed > 0) == (not mode.startswith("bn only"))
    # every model here has a batch norm feeding a fused LIF neuron, and (unfused) every
    # saved batch-norm output is recomputed instead of kept
    assert (stats.bn_fused > 0) == (mode in ("both", "bn only"))
    assert (stats.bn_recomputed > 0) == ("unfused" in mode) or stats.bn_fused > 0
    # one recomputation per batch-norm output, however many saved tensors live in it
    assert (stats.recomputations > 0) == (stats.bn_recomputed > 0)
    assert stats.recomputations <= stats.bn_recomputed
    assert stats.bytes_after < stats.bytes_before


def test_second_step_and_backward_inside_the_context():
    model, x = _model("csnn_tiny")
    ref = [_step(model, x, context=False) for _ in range(2)]
    model.zero_grad()
    model(x).sum().backward()
    ref_last = [p.grad.clone() for p in model.parameters()]
    model, _ = _model("csnn_tiny")
    got = [_step(model, x) for _ in range(2)]  # grads accumulate over the two steps
    for (g, gx, b, _), (rg, rgx, rb, _) in zip(got, ref, strict=True):
        _assert_identical(g, rg)
        _assert_identical(b, rb)
        assert torch.equal(gx, rgx)
    model.zero_grad()
    with compact_activations(model):
        model(x).sum().backward()  # backward inside the context works as well
    _assert_identical([p.grad for p in model.parameters()], ref_last)


class _CountingHooks:
    """Stands in for ``saved_tensors_hooks`` and remembers what the pack hook returned."""

    returned: ClassVar[list[Any]] = []

    def __init__(self, pack, unpack) -> None:
        self.inner = _SAVED_TENSORS_HOOKS(self._pack, unpack)
        self.pack = pack

    def _pack(self, t: torch.Tensor) -> Any:
        obj = self.pack(t)
        _CountingHooks.returned.append(obj)
        return obj

    def __enter__(self) -> None:
        self.inner.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.inner.__exit__(*exc)


def _tensors_in(obj: Any, found: list[torch.Tensor], depth: int = 0) -> None:
    """Every tensor reachable from what a pack hook returned, models and weak refs not
    followed (parameters and buffers stay alive anyway; a weak ref keeps nothing)."""
    if isinstance(obj, torch.Tensor):
        found.append(obj)
    elif depth > 6 or isinstance(obj, (nn.Module, type, MemoryStats)) or callable(obj):
        return
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _tensors_in(o, found, depth + 1)
    else:
        names = getattr(type(obj), "__slots__", ()) or getattr(obj, "__dict__", {}).keys()
        for n in names:
            _tensors_in(getattr(obj, n, None), found, depth + 1)


def _distinct_bytes(tensors: list[torch.Tensor], model: nn.Module) -> int:
    pinned = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    sizes = {}
    for t in tensors:
        s = t.untyped_storage()
        if s.data_ptr() not in pinned:
            sizes[s.data_ptr()] = s.nbytes()
    return sum(sizes.values())


@pytest.mark.parametrize("name,limit", [("csnn_tiny", 0.5), ("sew_resnet18", 0.8)])
def test_saved_bytes_drop_counted_two_ways(name, limit, monkeypatch):
    model, x = _model(name)
    x = x.requires_grad_()
    plain: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: plain.append(t) or t, lambda t: t):
        out = model(x)
    before = _distinct_bytes(plain, model)
    del out
    # the same forward through the context, counting what its hooks hand autograd
    monkeypatch.setattr(torch.autograd.graph, "saved_tensors_hooks", _CountingHooks)
    _CountingHooks.returned = []
    with compact_activations(model) as stats:
        out = model(x)
    monkeypatch.undo()
    kept: list[torch.Tensor] = []
    _tensors_in(_CountingHooks.returned, kept)
    after = _distinct_bytes(kept, model)
    assert stats.bytes_before == before
    assert stats.bytes_after == after
    assert after < limit * before, (after, before)
    out.sum().backward()  # still a working graph
    _CountingHooks.returned = []


@pytest.mark.parametrize("fuse", [True, False])
def test_tdbn_and_a_bn_lif_net_keep_no_bn_output_and_match(fuse):
    def net() -> nn.Module:
        torch.manual_seed(1)
        return nn.Sequential(
            fold(nn.Conv2d(2, 8, 3, padding=1)),
            ThresholdDependentBatchNorm(8, alpha=0.7),
            LIF(),
            fold(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8, momentum=None)),
            LIF(),
        ).train()

    x = torch.rand(3, 4, 2, 8, 8)
    ref = _step(net(), x, context=False)
    grads, gx, buffers, stats = _step(net(), x, fuse_neurons=fuse)
    _assert_identical(grads, ref[0])
    _assert_identical(buffers, ref[2])  # momentum=None: the cumulative count too
    assert torch.equal(gx, ref[1])
    # fused: the stock batch norm's LIF rebuilds its input in the kernel; tdBN (its own
    # forward) is recomputed either way
    assert stats.bn_fused == (1 if fuse else 0)
    assert stats.bn_recomputed + stats.bn_fused == 2
    assert stats.recomputations == stats.bn_recomputed


def test_eval_mode_with_grad_matches_and_no_grad_saves_nothing():
    model, x = _model("csnn_tiny")
    model.eval()
    ref = _step(model, x, context=False)
    model.zero_grad()
    grads, gx, _, stats = _step(model, x)
    _assert_identical(grads, ref[0])
    assert torch.equal(gx, ref[1]) and stats.bn_recomputed == 2
    model.train()
    with torch.no_grad():
        expected = model(x)
        with compact_activations(model) as stats:
            got = model(x)
    assert torch.equal(got, expected)
    assert stats.tensors_seen == 0 and stats.bn_recomputed == 0


def test_mode_switched_between_forward_and_backward_recomputes_the_forward_mode():
    """The recomputation runs batch norm as the forward ran it (batch statistics), even
    if the model was put in eval mode before backward."""
    results = []
    for context in (False, True):
        model, x = _model("csnn_tiny")
        with compact_activations(model) if context else torch.enable_grad():
            out = model(x)
        model.eval()
        out.square().mean().backward()
        results.append([p.grad for p in model.parameters()])
    _assert_identical(results[1], results[0])


def _no_hooks_left(model: nn.Module) -> None:
    for m in model.modules():
        assert not m._forward_hooks, f"{type(m).__name__} still has a forward hook"
    # a saved spike tensor is autograd's own again (no pack hook makes a copy)
    s = (torch.rand(64, 128) < 0.5).float()
    w = torch.randn(128, 8, requires_grad=True)
    y = s @ w
    assert y.grad_fn._saved_self is s


def test_nested_contexts_and_an_exception_leave_nothing_behind():
    model, x = _model("csnn_tiny")
    ref = _step(model, x, context=False)
    model, _ = _model("csnn_tiny")
    xg = x.clone().requires_grad_()
    with compact_activations(model) as outer, compact_activations(model) as inner:
        out = model(xg)
    out.square().mean().add(out.mean()).backward()
    _assert_identical([p.grad for p in model.parameters()], ref[0])
    assert inner.tensors_packed > 0 and outer.tensors_seen == 0  # the innermost saves
    _no_hooks_left(model)
    with pytest.raises(KeyError, match="inside"), compact_activations(model):
        model(x)
        raise KeyError("inside")
    _no_hooks_left(model)


def test_in_place_change_after_saving_is_still_caught():
    w = torch.randn(8, 8, requires_grad=True)
    for context in (False, True):
        model = nn.Identity()
        with compact_activations(model) if context else torch.enable_grad():
            h = torch.randn(100, 8) @ w
            y = h.sigmoid()  # saves its output y
        with torch.no_grad():
            y.add_(1.0)
        with pytest.raises(RuntimeError, match="modified by an inplace|in-place"):
            y.sum().backward()


def test_in_place_ops_inside_the_model_do_not_trip_the_check():
    def net() -> nn.Module:
        torch.manual_seed(2)
        return nn.Sequential(
            fold(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True)),
            LIF(),
            fold(nn.Flatten(), nn.Linear(4 * 64, 3)),
        ).train()

    x = torch.rand(4, 4, 1, 8, 8)
    ref = _step(net(), x, context=False)
    grads, gx, _, stats = _step(net(), x)
    _assert_identical(grads, ref[0])
    assert torch.equal(gx, ref[1])
    assert stats.bn_recomputed == 0  # the ReLU changed the BN output in place: kept


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pack_round_trip_values_dtype_shape_strides(dtype):
    g = torch.Generator().manual_seed(0)
    base = (torch.rand(5, 6, 7, 9, generator=g) < 0.4).to(dtype)
    cases = {
        "spikes": base,
        "graded": base * 0.3,
        "all zero": torch.zeros(3, 333, dtype=dtype),
        "odd size": base.reshape(-1)[:1001].clone(),
        "transposed": base.transpose(1, 3),
        "permuted": base.permute(3, 0, 2, 1),
        "channels last": base.contiguous(memory_format=torch.channels_last),
    }
    for name, t in cases.items():
        p = pack_spikes(t)
        assert isinstance(p, PackedSpikes), name
        back = unpack_spikes(p)
        assert back.dtype == dtype and back.shape == t.shape, name
        assert back.stride() == t.stride(), name
        assert torch.equal(back, t), name
        assert p.nbytes == (t.numel() + 7) // 8
    assert pack_spikes(base * 0.3).value == pytest.approx(0.3)


def test_pack_refuses_what_is_not_spikes():
    s = (torch.rand(4000) < 0.5).float()
    for name, t in {
        "negative zero": s.clone().index_fill_(0, torch.tensor([11]), -0.0) * 1,
        "nan": s.clone().index_fill_(0, torch.tensor([5]), float("nan")),
        "two values": s + 2 * (torch.arange(4000) == 3999).float(),
        "late value": s.clone().index_fill_(0, torch.tensor([3999]), 0.5),
        "integers": s.long(),
        "slice with gaps": s.reshape(40, 100)[:, :50],
        "broadcast": s[:100].expand(40, 100),
    }.items():
        assert pack_spikes(t) is None, name
    with pytest.raises(TypeError, match="takes a torch.Tensor, got list"):
        pack_spikes([0.0, 1.0])
    with pytest.raises(TypeError, match="takes a PackedSpikes, got Tensor"):
        unpack_spikes(s)


def test_non_contiguous_spike_inputs_of_conv_linear_pool_matmul(monkeypatch):
    """Saved spike views (transposed, channels-last, permuted) come back with their own
    strides, so every backward computes exactly what it computes without the context."""
    monkeypatch.setattr(memory, "MIN_ELEMENTS", 64)
    g = torch.Generator().manual_seed(4)
    s = (torch.rand(6, 4, 10, 10, generator=g) < 0.3).float()
    conv_w = torch.randn(5, 4, 3, 3, generator=g)
    lin_w = torch.randn(7, 6, generator=g)
    mat = torch.randn(10, 3, generator=g)

    def run(context: bool) -> list[torch.Tensor]:
        w1, w2, m = (t.clone().requires_grad_() for t in (conv_w, lin_w, mat))
        sv = s.clone().requires_grad_()
        with compact_activations(nn.Identity()) if context else torch.enable_grad():
            a = nn.functional.conv2d(sv.contiguous(memory_format=torch.channels_last), w1)
            b = sv.permute(2, 3, 1, 0) @ w2.t()  # linear on a permuted view
            c = nn.functional.avg_pool2d(sv.transpose(2, 3), 2)
            d = sv.transpose(-1, -2) @ m
        (a.square().sum() + b.square().sum() + c.square().sum() + d.square().sum()).backward()
        return [w1.grad, w2.grad, m.grad, sv.grad]

    _assert_identical(run(True), run(False))


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="takes an nn.Module, got str"), compact_activations("x"):
        pass
    with (
        pytest.raises(TypeError, match="spikes must be a bool, got str"),
        compact_activations(nn.Identity(), spikes="yes"),
    ):
        pass


def _counting_full(monkeypatch) -> list[int]:
    calls = [0]
    full = memory._run_on_copies

    def counted(*args: Any) -> torch.Tensor:
        calls[0] += 1
        return full(*args)

    monkeypatch.setattr(memory, "_run_on_copies", counted)
    return calls


def test_one_pass_recomputation_is_checked_once_then_used(monkeypatch):
    model, x = _model("csnn_tiny")
    ref = [_step(model, x, context=False)[0] for _ in range(3)]
    model, _ = _model("csnn_tiny")
    calls = _counting_full(monkeypatch)
    for step in range(3):
        grads, _, _, stats = _step(model, x, fuse_neurons=False)
        _assert_identical(grads, ref[step])
        assert stats.recomputations == 2
        # first step: each of the two batch norms is checked against its forward once
        assert calls[0] == 2, step


def test_a_one_pass_result_that_differs_falls_back_to_the_forward(monkeypatch):
    model, x = _model("csnn_tiny")
    ref = [_step(model, x, context=False)[0] for _ in range(2)]
    model, _ = _model("csnn_tiny")
    exact = bn_exact.matching_scale

    def off_by_one_ulp(invstd, eps, weight):
        var, w, found = exact(invstd, eps, weight)
        return var, torch.nextafter(w, torch.full_like(w, 2.0)), found  # a wrong scale

    monkeypatch.setattr(bn_exact, "matching_scale", off_by_one_ulp)
    calls = _counting_full(monkeypatch)
    for step in range(2):
        grads = _step(model, x, fuse_neurons=False)[0]
        _assert_identical(grads, ref[step])
    assert calls[0] == 4  # the check failed, so every recomputation ran the forward
    assert all(v is False for d in memory._VERIFIED.values() for v in d.values())


def test_batch_norm_of_spikes_recomputes_from_the_bits(monkeypatch):
    """A batch norm whose input is spikes saves that input as bits; the recomputation
    of its output then starts from those bits (the float input is gone)."""
    monkeypatch.setattr(memory, "MIN_ELEMENTS", 64)

    def net() -> nn.Module:
        torch.manual_seed(3)
        return nn.Sequential(
            fold(nn.Conv2d(1, 4, 3, padding=1)), LIF(), fold(nn.BatchNorm2d(4)), LIF()
        ).train()

    x = torch.rand(3, 2, 1, 8, 8)
    ref = _step(net(), x, context=False)
    model = net()
    inputs = []
    model[2].register_forward_hook(lambda m, args, out: inputs.append(weakref.ref(args[0])))
    grads, gx, buffers, stats = _step(model, x)
    assert inputs[0]() is None  # the float spikes were freed after forward
    _assert_identical(grads, ref[0])
    _assert_identical(buffers, ref[2])
    assert torch.equal(gx, ref[1])
    assert stats.bn_recomputed == 1 and stats.tensors_packed >= 1


def test_parameters_and_buffers_are_never_packed():
    """A spike-valued parameter (zeros, binary weights) or buffer stays alive anyway: it
    is saved as it is, never copied into bits."""
    model = nn.Linear(128, 64)
    with torch.no_grad():
        model.weight.copy_((torch.rand(64, 128) < 0.5).float())  # binary weights
    model.register_buffer("mask", (torch.rand(128, 64) < 0.5).float())
    x = torch.randn(70, 128, requires_grad=True)
    with compact_activations(model) as stats:
        out = model(x) + (x @ model.mask).sum()
    assert stats.tensors_packed == 0 and stats.bytes_before == stats.bytes_after
    out.sum().backward()
    assert x.grad is not None


def test_an_output_saved_twice_is_recomputed_once_and_double_backward_matches():
    def run(context: bool) -> tuple[list[torch.Tensor], MemoryStats | None]:
        torch.manual_seed(0)
        m = nn.Sequential(nn.Conv2d(2, 8, 3), nn.BatchNorm2d(8))
        x = torch.randn(16, 2, 12, 12, requires_grad=True)
        with compact_activations(m) if context else torch.enable_grad() as stats:
            y = m(x)
            z = (y * y).sum()  # mul saves y twice: two tokens, one source
        (g,) = torch.autograd.grad(z, x, create_graph=True)
        g.square().sum().backward()
        return [p.grad for p in m.parameters()] + [x.grad], stats

    ref, _ = run(False)
    got, stats = run(True)
    _assert_identical(got, ref)
    assert stats.bn_recomputed == 2 and stats.recomputations == 1
