import contextlib
import copy

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from spikeforge.layers import fold
from spikeforge.layers.recompute import (
    MEMORY_MODES,
    checkpoint_blocks,
    memory_mode,
    plan_recompute,
)
from spikeforge.models import create
from spikeforge.models.ms_resnet import MSBlock
from spikeforge.models.or_resnet import OfficialORBlock, ORBlock
from spikeforge.models.resnet import BasicBlock
from spikeforge.models.sew_resnet import SEWBlock
from spikeforge.models.spikformer import SpikformerBlock
from spikeforge.neurons import LIF

pytestmark = pytest.mark.usefixtures("one_thread")

GRAY8 = {"in_channels": 1, "input_size": 8}
# Small zoo models (8×8 one-channel input); the residual ones cover every block family.
ZOO = {
    "csnn_tiny": {},
    "sew_resnet18": {"base_width": 4, **GRAY8},
    "sew_resnet18_tdbn": {"base_width": 4, "norm": "tdbn", "connect": "iand", **GRAY8},
    "spikformer": {"embed_dim": 16, "heads": 2, **GRAY8},
}
BLOCKS = {
    "spiking_resnet18": BasicBlock,
    "sew_resnet18": SEWBlock,
    "ms_resnet18": MSBlock,
    "or_resnet18": ORBlock,
    "syna_resnet18": ORBlock,
    "spikformer": SpikformerBlock,
}


def build(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    default = GRAY8 if name.startswith("spikformer") else {"base_width": 4, **GRAY8}
    kwargs = dict(ZOO.get(name, default))
    return create(name.removesuffix("_tdbn"), num_classes=10, **kwargs)


def images(generator: torch.Generator, batch: int = 4) -> torch.Tensor:
    """``[T=4, B, 1, 8, 8]`` analog input, large enough that the first layers spike."""
    return 3 * torch.rand(4, batch, 1, 8, 8, generator=generator)


def train_step(
    model: nn.Module, x: torch.Tensor, recompute: bool, mode: str | None = None
) -> dict[str, torch.Tensor]:
    """Forward inside :func:`checkpoint_blocks` (``recompute``) or ``memory_mode(mode)``
    or plain, backward *after* the context; every parameter's grad."""
    model.zero_grad(set_to_none=True)
    if recompute:
        context = checkpoint_blocks(model)
    elif mode is not None:
        context = memory_mode(model, mode)
    else:
        context = contextlib.nullcontext()
    with context:
        out = model(x)
    (out.square().mean() + out.mean()).backward()
    return {n: p.grad for n, p in model.named_parameters()}


def assert_state_equal(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key, value in sa.items():
        assert torch.equal(value, sb[key]), key


# -- what is recomputed ---------------------------------------------------------------
def test_csnn_groups_are_conv_bn_and_its_neuron_and_the_readout_is_left_alone():
    plan = plan_recompute(build("csnn_tiny"))
    assert plan.units == [] and plan.groups == [("0", "1"), ("2", "3")]
    assert len(plan) == 2


def test_vgg_groups_take_the_pool_before_a_conv_with_them():
    model = create("spiking_vgg_small", num_classes=10, hidden_sizes=(8,), drop_rate=0.5)
    plan = plan_recompute(model)
    # features: conv 0, LIF 1, pool 2, conv 3, LIF 4, pool 5, conv 6, LIF 7, pool 8
    assert plan.groups == [
        ("features.0", "features.1"),
        ("features.2", "features.3", "features.4"),
        ("features.5", "features.6", "features.7"),
        ("pre_logits.0", "pre_logits.1"),  # the dropout after the last neuron stays out
    ]


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_units_are_exactly_the_residual_and_transformer_blocks(name):
    model = build(name)
    expected = [n for n, m in model.named_modules() if isinstance(m, BLOCKS[name])]
    assert len(expected) >= 2 and plan_recompute(model).units == expected


def test_official_or_blocks_are_units_too():
    model = create("or_resnet18", num_classes=10, variant="official", base_width=4, **GRAY8)
    expected = [n for n, m in model.named_modules() if isinstance(m, OfficialORBlock)]
    assert len(expected) == 8 and plan_recompute(model).units == expected


def test_modules_that_keep_time_themselves_are_never_recomputed():
    class KeepsTime(nn.Module):
        runs_whole_sequence = True

        def __init__(self) -> None:
            super().__init__()
            self.lif = LIF()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lif(x)

    net = nn.Sequential(fold(nn.Linear(3, 3)), KeepsTime(), fold(nn.Linear(3, 3)), LIF())
    assert plan_recompute(net).groups == [("2", "3")] and plan_recompute(net).units == []
    assert len(plan_recompute(KeepsTime())) == 0


def test_a_reused_layer_runs_at_each_place_and_a_custom_sequential_is_a_unit(generator):
    class Reversed(nn.Sequential):  # a Sequential subclass with a forward of its own
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for module in reversed(self):
                x = module(x)
            return x

    torch.manual_seed(0)
    shared = fold(nn.Linear(6, 6))
    net = nn.Sequential(
        shared, LIF(), shared, LIF(), Reversed(LIF(), fold(nn.Linear(6, 6))), fold(nn.Linear(6, 2))
    )
    plan = plan_recompute(net)
    assert plan.groups == [("0", "1"), ("2", "3")] and plan.units == ["4"]
    twin = copy.deepcopy(net)
    x = 2 * torch.rand(3, 4, 6, generator=generator)
    want = train_step(net, x, recompute=False)
    got = train_step(twin, x, recompute=True)
    for key, grad in want.items():
        assert torch.equal(got[key], grad), key


# -- exactness ------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["blocks", *MEMORY_MODES])
@pytest.mark.parametrize("name", sorted(ZOO))
def test_gradients_and_running_stats_are_bit_identical(name, mode, generator):
    # blocks: checkpoint_blocks alone; full/compact/checkpoint: memory_mode, the trainer's
    plain = build(name)
    recomputed = copy.deepcopy(plain)
    x = images(generator)
    want = train_step(plain, x, recompute=False)
    blocks = mode == "blocks"
    got = train_step(recomputed, x, recompute=blocks, mode=None if blocks else mode)
    assert list(got) == list(want)
    for key, grad in want.items():
        assert grad is not None and torch.equal(got[key], grad), key
    assert any(bool(g.abs().sum() > 0) for g in want.values())
    # BN's running statistics (and num_batches_tracked) moved once, as without recomputing
    assert_state_equal(plain, recomputed)


@pytest.mark.parametrize("name", ["ms_resnet18", "syna_resnet18", "spikformer_v2_tiny"])
def test_the_other_block_families_train_bit_identically_under_checkpoint(name, generator):
    plain = build(name)
    recomputed = copy.deepcopy(plain)
    x = images(generator)
    want = train_step(plain, x, recompute=False)
    got = train_step(recomputed, x, recompute=False, mode="checkpoint")
    assert len(plan_recompute(plain).units) >= 1  # spikformer_v2_tiny: one block
    for key, grad in want.items():
        assert grad is not None and torch.equal(got[key], grad), key
    assert_state_equal(plain, recomputed)


def test_a_plain_checkpoint_would_update_batch_norm_twice(generator):
    # The hazard the buffer snapshot removes (so the test above can fail): checkpointing
    # a Conv-BN-LIF group with torch's checkpoint alone moves the running mean twice.
    model = build("csnn_tiny")
    reference = copy.deepcopy(model)
    x = images(generator)
    group = nn.Sequential(model[0], model[1])
    out = model[4](model[3](model[2](checkpoint(group, x, use_reentrant=False))))
    out.sum().backward()
    reference(x).sum().backward()
    bn = "0.layer.1"
    assert int(model.state_dict()[f"{bn}.num_batches_tracked"]) == 2
    assert int(reference.state_dict()[f"{bn}.num_batches_tracked"]) == 1
    assert not torch.equal(
        model.state_dict()[f"{bn}.running_mean"], reference.state_dict()[f"{bn}.running_mean"]
    )


def test_dropout_inside_a_group_is_replayed_and_the_random_stream_continues(generator):
    torch.manual_seed(0)
    net = nn.Sequential(
        fold(nn.Linear(6, 16)), fold(nn.Dropout(0.5)), LIF(),
        fold(nn.Linear(16, 16)), fold(nn.BatchNorm1d(16)), fold(nn.Dropout(0.3)), LIF(),
        fold(nn.Linear(16, 3)),
    )  # fmt: skip
    assert plan_recompute(net).groups == [("0", "1", "2"), ("3", "4", "5", "6")]
    twin = copy.deepcopy(net)
    x = 2 * torch.rand(5, 4, 6, generator=generator)
    torch.manual_seed(7)
    want = train_step(net, x, recompute=False)
    after_plain = torch.rand(3)
    torch.manual_seed(7)
    got = train_step(twin, x, recompute=True)
    after_recomputed = torch.rand(3)
    for key, grad in want.items():
        assert torch.equal(got[key], grad), key
    assert_state_equal(net, twin)
    # the recomputation restored the generator: the next random numbers are the same
    assert torch.equal(after_plain, after_recomputed)
    # and the masks really were random: another seed gives other gradients
    torch.manual_seed(8)
    other = train_step(copy.deepcopy(twin), x, recompute=True)
    assert not torch.equal(other["0.layer.weight"], got["0.layer.weight"])


def test_two_steps_in_a_row_stay_identical_to_plain_training(generator):
    plain = build("sew_resnet18")
    recomputed = copy.deepcopy(plain)
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.5) for m in (plain, recomputed)]
    for _ in range(2):
        x = images(generator)
        train_step(plain, x, recompute=False)
        train_step(recomputed, x, recompute=True)
        for opt in optimizers:
            opt.step()
    assert_state_equal(plain, recomputed)


# -- the model itself is untouched ----------------------------------------------------
def test_state_dict_keys_and_forwards_are_unchanged_and_restored_on_exit(generator):
    model = build("spikformer")
    keys = list(model.state_dict())
    with checkpoint_blocks(model) as plan:
        assert list(model.state_dict()) == keys
        assert "forward" in model.blocks[0].__dict__  # patched while inside
        inside = copy.deepcopy(model.state_dict())
    assert list(inside) == keys
    patched = [model.blocks[0], model.patches.stages, model.patches.rpe]
    assert all("forward" not in m.__dict__ for m in patched)
    assert not any("_spikeforge_recompute" in m.__dict__ for m in model.modules())
    assert plan.units == ["blocks.0", "blocks.1"]
    fresh = build("spikformer")
    fresh.load_state_dict(inside)  # a checkpoint written inside loads into a plain model


def test_an_instance_forward_set_by_others_is_kept(generator):
    model = build("sew_resnet18")
    block = model.layer1[0]
    calls = []

    def counting(x: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return type(block).forward(block, x)

    block.forward = counting
    with checkpoint_blocks(model):
        model(images(generator)).sum().backward()
    assert block.forward is counting
    assert len(calls) == 2  # the forward and its recomputation both went through it


def test_no_grad_runs_plain_and_gives_the_same_outputs(generator):
    model = build("csnn_tiny").eval()
    x = images(generator)
    with torch.no_grad():
        want = model(x)
        with checkpoint_blocks(model):
            got = model(x)
    assert torch.equal(got, want)


def test_nested_use_and_bad_input_are_refused():
    model = build("csnn_tiny")
    with checkpoint_blocks(model):
        inner = checkpoint_blocks(model)
        with pytest.raises(RuntimeError, match="already active on Sequential"):
            inner.__enter__()
        assert "forward" in model.__dict__  # the outer context still holds
    assert "forward" not in model.__dict__
    with pytest.raises(TypeError, match="expects an nn.Module, got Tensor"):
        plan_recompute(torch.zeros(1))


# -- memory ---------------------------------------------------------------------------
def saved_bytes(model: nn.Module, x: torch.Tensor, recompute: bool) -> int:
    """Bytes of the distinct storages autograd keeps for backward, parameters and
    buffers excluded (they are kept anyway; as ``bench/trevsnn_memory.py`` counts)."""
    params = {p.untyped_storage().data_ptr() for p in (*model.parameters(), *model.buffers())}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            storages[s.data_ptr()] = s.nbytes()
        return t

    context = checkpoint_blocks(model) if recompute else torch.enable_grad()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), context:
        out = model(x)
    del out
    return sum(storages.values())


def test_csnn_keeps_only_the_group_inputs_and_what_the_readout_saves(generator):
    model = build("csnn_tiny")
    x = images(generator)
    full = saved_bytes(model, x, recompute=False)
    kept = saved_bytes(model, x, recompute=True)
    # by hand: the input x and the first group's spikes [T, B, 16, 8, 8] (the second
    # group's input), plus what the readout saves itself on the second group's spikes
    spikes1 = model[1](model[0](x)).detach()
    spikes2 = model[3](model[2](spikes1)).detach().requires_grad_()
    readout = saved_bytes(model[4], spikes2, recompute=False)
    assert kept == x.nbytes + spikes1.nbytes + readout
    assert kept < 0.4 * full


@pytest.mark.parametrize("name", ["sew_resnet18", "spikformer"])
def test_saved_bytes_drop_for_residual_and_transformer_blocks(name, generator):
    model = build(name)
    x = images(generator)
    full = saved_bytes(model, x, recompute=False)
    kept = saved_bytes(model, x, recompute=True)
    assert kept < 0.5 * full


def test_memory_mode_checkpoint_keeps_less_than_compact_and_compact_less_than_full(generator):
    model = build("sew_resnet18")
    x = images(generator, batch=8)
    kept = {}
    for mode in ("compact", "checkpoint"):
        with memory_mode(model, mode) as stats:
            model(x)
        kept[mode] = stats
    full = saved_bytes(model, x, recompute=False)
    # compact's count of what autograd would keep is the plain run's
    assert kept["compact"].bytes_before == full
    assert kept["compact"].bytes_after < full and kept["compact"].tensors_packed > 0
    # with checkpointing, compact only sees the block inputs and what lies outside blocks
    assert kept["checkpoint"].bytes_before == saved_bytes(model, x, recompute=True)
    assert kept["checkpoint"].bytes_after < kept["compact"].bytes_after
    with memory_mode(model, "full") as stats:
        assert stats is None


def test_memory_mode_refuses_an_unknown_mode():
    context = memory_mode(build("csnn_tiny"), "bits")
    with pytest.raises(ValueError, match=r"memory mode must be one of \('full', 'compact', "):
        context.__enter__()
