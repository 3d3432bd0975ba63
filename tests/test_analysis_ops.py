import pytest
import torch
from torch import nn

from spikeforge.analysis.ops import AC, MAC, count_operations, is_binary
from spikeforge.layers import fold
from spikeforge.neurons import IF

T, B = 4, 2


def two_layer_net(silent_tail: bool = False) -> nn.Sequential:
    """conv 1->2 3×3 (pad 1) on 4×4 -> IF -> linear 32->3 [-> silent IF -> linear 3->2].

    Conv weights pass the input through on channel 0 (centre tap 1) and silence channel
    1, so with a constant 0.6 input the IF fires at t = 1, 3 on the 16 channel-0 pixels
    only: input rate of the linear layer = 2·16 / (4·32) = 1/4.
    """
    conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 1, 1] = 1.0
    layers = [fold(conv), IF(backend="torch"), fold(nn.Flatten(), nn.Linear(32, 3))]
    if silent_tail:
        layers += [IF(v_th=1e6, backend="torch"), fold(nn.Linear(3, 2))]
    return nn.Sequential(*layers)


def test_two_layer_counts_equal_hand_values():
    counts = count_operations(two_layer_net(), torch.full((T, B, 1, 4, 4), 0.6))
    conv, linear = counts.records
    assert (conv.module, conv.op, conv.kind) == ("0.layer", "convolution", MAC)
    # Analog first layer: dense MACs 2·1·9·16 = 288 per sample per step, all executed.
    assert conv.macs == conv.sops == 288 * T * B
    assert (linear.module, linear.op, linear.kind) == ("2.layer.1", "addmm", AC)
    assert linear.macs == 96 * T * B
    assert linear.sops == 96 * T * B // 4
    assert linear.rate == pytest.approx(0.25)
    assert counts.total_macs == (288 + 96) * T
    assert counts.mac_ops == 288 * T
    assert counts.ac_ops == 96 * T / 4
    rows = counts.per_sample()
    assert [r["layer"] for r in rows] == ["0.layer", "2.layer.1"]
    assert rows[1]["sops"] == 96
    # The accumulate op names the spiking layer that feeds it, as the firing rates do.
    assert [r["inputs"] for r in rows] == [(), ("1",)] and [r["index"] for r in rows] == [0, 0]


def test_silent_layer_costs_zero_sops():
    counts = count_operations(two_layer_net(silent_tail=True), torch.full((T, B, 1, 4, 4), 0.6))
    tail = counts.records[-1]
    assert (tail.module, tail.kind) == ("4.layer", AC)
    assert tail.macs == 6 * T * B
    assert tail.sops == 0


def test_zero_weights_do_not_make_an_analog_layer_spiking():
    # An all-zero weight matrix is "binary" by value; parameters are never the spike operand.
    lin = nn.Linear(4, 3, bias=False)
    nn.init.zeros_(lin.weight)
    counts = count_operations(fold(lin), torch.rand(2, 3, 4) + 0.1)
    (rec,) = counts.records
    assert rec.kind == MAC and rec.sops == rec.macs == 2 * 3 * 4 * 3


def test_ternary_input_is_accumulate_and_transposed_conv_counted():
    x = torch.tensor([-1.0, 0.0, 1.0, 0.0]).repeat(2, 1, 2, 2).reshape(1, 2, 2, 2, 4)  # [T,B,C,H,W]
    assert is_binary(x) and not is_binary(x * 0.5)
    conv = nn.ConvTranspose2d(2, 3, 2, stride=2)
    counts = count_operations(fold(conv), x)
    (rec,) = counts.records
    # Transposed: every input element feeds C_out/groups · ∏k = 3·4 outputs.
    assert rec.kind == AC
    assert rec.macs == x.numel() * 3 * 4
    assert rec.sops == rec.macs // 2  # half the entries are nonzero


class SpikingSelfAttention(nn.Module):
    """Tiny Spikformer-style SSA: Q, K, V spiking ``[T, B, heads, N, d]``, ``(Q Kᵀ s) V``."""

    def __init__(self, dim: int = 8, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = (fold(nn.Linear(dim, dim)) for _ in range(3))
        self.q_lif, self.k_lif, self.v_lif = (IF(v_th=0.5, backend="torch") for _ in range(3))
        self.attn = Attention()
        self.last: tuple[torch.Tensor, ...] = ()

    def split(self, x: torch.Tensor) -> torch.Tensor:  # [T, B, N, D] -> [T, B, h, N, d]
        return x.unflatten(-1, (self.heads, -1)).transpose(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.split(self.q_lif(self.q(x)))
        k = self.split(self.k_lif(self.k(x)))
        v = self.split(self.v_lif(self.v(x)))
        self.last = (q, k, v)
        return self.attn(q, k, v)


class Attention(nn.Module):
    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        scores = q @ k.transpose(-2, -1) * 0.125
        self.scores = scores
        return scores @ v


def test_spiking_self_attention_counts_accumulates_on_spikes():
    torch.manual_seed(0)
    block = SpikingSelfAttention()
    x = torch.randn(3, 2, 5, 8) * 2  # [T, B, N, D]
    counts = count_operations(block, x)
    q, k, v = block.last
    scores = block.attn.scores
    assert all(is_binary(s) for s in (q, k, v)) and not is_binary(scores)
    assert 0 < float(q.mean()) < 1 and 0 < float(k.mean()) < 1 and 0 < float(v.mean()) < 1
    by_label = {counts.label(r): r for r in counts.records}
    assert set(by_label) == {"q.layer", "k.layer", "v.layer", "attn#0", "attn#1"}
    for name in ("q.layer", "k.layer", "v.layer"):  # analog input x: MACs
        assert by_label[name].kind == MAC and by_label[name].sops == 3 * 2 * 5 * 8 * 8
    dense = 3 * 2 * 2 * 5 * 5 * 4  # T·B·heads·N·N·d for each of the two products
    qk, sv = by_label["attn#0"], by_label["attn#1"]
    assert qk.kind == AC and qk.macs == dense
    # Q Kᵀ: an accumulate happens only where a Q spike meets a K spike.
    assert qk.sops == int(torch.einsum("tbhic,tbhjc->", q, k))
    # (scores) V: every V spike v[j, c] adds scores[i, j] for each of the N rows i.
    assert sv.kind == AC and sv.macs == dense
    assert sv.sops == int(v.sum()) * 5
    # Rows carry the plain qualified name (one per op, numbered by index).
    assert qk.inputs == ("q_lif", "k_lif") and sv.inputs == ("v_lif",)
    assert [(r["layer"], r["index"]) for r in counts.per_sample()][-2:] == [
        ("attn", 0),
        ("attn", 1),
    ]


def test_module_called_per_step_accumulates_and_attributes_to_innermost():
    class StepLoop(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cell = nn.Linear(3, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.stack([self.cell(x_t) for x_t in x])

    counts = count_operations(StepLoop(), torch.rand(5, 4, 3) + 0.1)
    (rec,) = counts.records
    assert (rec.module, rec.index, rec.calls, rec.macs) == ("cell", 0, 5, 5 * 4 * 3 * 2)


def test_functional_matmul_in_root_module_and_hooks_removed():
    class Root(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ torch.ones(3, 2)

    model = Root()
    counts = count_operations(model, torch.rand(2, 4, 3) + 0.1)
    assert counts.label(counts.records[0]) == "<model>"
    assert counts.records[0].macs == 2 * 4 * 3 * 2
    assert not model._forward_pre_hooks and not model._forward_hooks


def test_input_validation():
    with pytest.raises(TypeError, match="nn.Module"):
        count_operations(lambda x: x, torch.ones(2, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[T, B, ...\]"):
        count_operations(nn.Identity(), torch.ones(3))
    counts = count_operations(fold(nn.Linear(2, 2)), torch.ones(3, 4, 2), batch_size=2)
    assert counts.batch_size == 2 and counts.steps == 3


class Apply(nn.Module):
    """``fn(x)`` as a module, so the op runs inside a named module."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(*xs)


def spikes(generator: torch.Generator, shape=(3, 2, 4, 4, 4), p: float = 0.3) -> torch.Tensor:
    return (torch.rand(shape, generator=generator) < p).float()


def pooled_then_linear(pool) -> nn.Sequential:
    """``[T, B, 4, 4, 4]`` -> pool -> flatten -> linear to 5 outputs."""
    return nn.Sequential(Apply(pool), fold(nn.Flatten(), nn.LazyLinear(5)))


@pytest.mark.parametrize(
    "pool",
    [
        lambda x: fold(nn.AvgPool2d(2))(x),
        lambda x: fold(nn.AdaptiveAvgPool2d(2))(x),
        lambda x: fold(nn.AvgPool2d(2))(x * 0.37),  # spikes that carry λ = 0.37
        lambda x: x.mean((-2, -1), keepdim=True),
    ],
    ids=["avgpool", "adaptive", "scaled", "mean"],
)
def test_pooled_spikes_cost_one_accumulate_per_spike(generator, pool):
    x = spikes(generator, p=0.05)
    model = pooled_then_linear(pool)
    model(x)  # materialise the lazy layer
    counts = count_operations(model, x)
    (rec,) = counts.records
    # Each input spike reaches one pooled value, which fans out to the 5 outputs.
    assert rec.kind == AC
    assert rec.sops == 5 * int(x.sum())
    assert rec.sops < rec.macs


def test_spike_counts_denser_than_one_per_input_are_multiplies(generator):
    # A global mean over 16 pixels at rate 0.5 gives ~8 spikes per pooled value: 8
    # accumulates of one weight cost more than the one multiply by the count.
    x = spikes(generator, p=0.5)
    model = pooled_then_linear(lambda s: s.mean((-2, -1), keepdim=True))
    model(x)
    (rec,) = count_operations(model, x).records
    assert rec.kind == MAC and rec.sops == rec.macs == 3 * 2 * 4 * 5


def test_summed_spike_tensors_count_both_spikes(generator):
    a, b = spikes(generator, (3, 2, 16)), spikes(generator, (3, 2, 16))
    assert int((a + b).max()) == 2  # some positions carry two spikes
    model = nn.Sequential(Apply(lambda x: x + b), fold(nn.Linear(16, 5)))
    (rec,) = count_operations(model, a).records
    assert rec.kind == AC and rec.sops == 5 * int(a.sum() + b.sum())


@pytest.mark.parametrize(
    "make",
    [
        lambda s, g: s + 0.5,  # a bias on spikes
        lambda s, g: s * torch.rand(s.shape, generator=g),  # gated by an analog map
        lambda s, g: torch.randint(0, 256, s.shape, generator=g).float() / 255,  # 8-bit image
        lambda s, g: torch.full(s.shape, 0.6),  # constant (all nonzeros equal)
    ],
    ids=["bias", "gate", "8bit", "constant"],
)
def test_analog_operands_stay_multiply_accumulates(generator, make):
    x = spikes(generator, (3, 2, 16))
    model = nn.Sequential(Apply(lambda s: make(s, generator)), fold(nn.Linear(16, 5)))
    (rec,) = count_operations(model, x).records
    assert rec.kind == MAC and rec.sops == rec.macs


def test_per_channel_scaled_spikes_are_accumulates(generator):
    x = spikes(generator)
    scale = torch.tensor([0.5, 1.5, 2.0, 3.0]).view(4, 1, 1)
    model = nn.Sequential(Apply(lambda s: s * scale), fold(nn.Conv2d(4, 2, 1, bias=False)))
    (rec,) = count_operations(model, x).records
    # 1×1 conv: each spike reaches the 2 output channels.
    assert rec.kind == AC and rec.sops == 2 * int(x.sum())


def test_scaling_spike_counts_scales_the_value_of_one_spike(generator):
    # avg-pooled spikes (one spike = 1/4) times 3: one spike is worth 3/4 afterwards.
    x = spikes(generator, p=0.05)
    model = pooled_then_linear(lambda s: fold(nn.AvgPool2d(2))(s) * 3.0)
    model(x)
    (rec,) = count_operations(model, x).records
    assert rec.kind == AC and rec.sops == 5 * int(x.sum())


def test_scaling_counts_of_unknown_spike_value_keeps_them_events(generator):
    # A [C, 1, 1] scale leaves the value of one spike unknown to the counter; a further
    # uniform scaling must not invent one (the smallest nonzero value is used instead).
    x = spikes(generator, p=0.05)
    per_channel = torch.full((4, 1, 1), 0.5)
    model = pooled_then_linear(lambda s: fold(nn.AvgPool2d(2))(s * per_channel) * 3.0)
    model(x)
    (rec,) = count_operations(model, x).records
    assert rec.kind == AC and rec.sops == 5 * int(x.sum())


class TwoBranchJoin(nn.Module):
    """Two spiking branches, each pooled, summed (SEW's ADD), then a linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.left, self.right = IF(backend="torch"), IF(v_th=2.0, backend="torch")
        self.pool = fold(nn.AvgPool2d(2))
        self.head = fold(nn.Flatten(), nn.Linear(4, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.left(x)) + self.pool(self.right(x)))


def test_inputs_follow_spikes_through_joins_pools_and_wrappers(generator):
    x = torch.rand(T, B, 1, 4, 4, generator=generator) * 0.4
    model = TwoBranchJoin()
    (head,) = count_operations(model, x).records
    assert (head.module, head.kind, head.inputs) == ("head.layer.1", AC, ("left", "right"))
    # A DataParallel (or DDP, torch.compile) wrapper adds no "module." prefix to names.
    (wrapped,) = count_operations(nn.DataParallel(model), x).records
    assert (wrapped.module, wrapped.inputs) == (head.module, head.inputs)
    # Spikes that come from the data name no layer.
    (data,) = count_operations(fold(nn.Linear(4, 2)), (torch.rand(T, B, 4) > 0.5).float()).records
    assert data.kind == AC and data.inputs == ()
