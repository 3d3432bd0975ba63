"""Spikformer: spiking self-attention wiring, token shapes and the model's checks."""

import pytest
import torch

from spikeforge.analysis.ops import AC, count_operations
from spikeforge.models import create
from spikeforge.models.spikformer import SpikingPatchSplitting, SpikingSelfAttention
from spikeforge.neurons import IF


def test_ssa_is_q_kt_v_times_the_scale_per_head_on_binary_spikes():
    torch.manual_seed(0)
    ssa = SpikingSelfAttention(8, 2, lambda: IF(v_th=0.5), IF(v_th=0.5)).eval()
    seen = {}
    for name in ("q_sn", "k_sn", "v_sn"):
        getattr(ssa, name).register_forward_hook(
            lambda m, i, o, name=name: seen.__setitem__(name, o)
        )
    ssa.attn_sn.register_forward_pre_hook(lambda m, i: seen.__setitem__("attn_in", i[0]))
    x = 3.0 * torch.randn(3, 2, 5, 8)  # [T, B, N, D]
    out = ssa(x)
    assert out.shape == x.shape and set(out.unique().tolist()) <= {0.0, 1.0}
    q, k, v = seen["q_sn"], seen["k_sn"], seen["v_sn"]
    assert set(torch.cat([q, k, v]).unique().tolist()) == {0.0, 1.0}
    expected = torch.zeros(3, 2, 5, 8)
    for cols in (slice(0, 4), slice(4, 8)):  # the two heads
        qh, kh, vh = q[..., cols], k[..., cols], v[..., cols]
        expected[..., cols] = (qh @ kh.transpose(-2, -1) @ vh) * 0.125
    assert torch.allclose(seen["attn_in"], expected)
    counts = seen["attn_in"] / 0.125  # sums of products of spikes: accumulate-only
    assert torch.equal(counts, counts.round())


@pytest.mark.parametrize(("size", "tokens"), [(32, 64), (8, 16)])
def test_patch_splitting_gives_the_papers_token_grid(size, tokens):
    model = create("spikformer", num_classes=3, in_channels=3, input_size=size, embed_dim=16,
                   depth=1, heads=2)  # fmt: skip
    x = torch.rand(2, 1, 3, size, size)
    assert model.patches(x).shape == (2, 1, tokens, 16)
    assert model(x).shape == (2, 1, 3)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="divisible by heads"):
        create("spikformer", embed_dim=16, heads=3)
    with pytest.raises(ValueError, match="at least 8"):
        SpikingPatchSplitting(3, 4, 1, IF)
    with pytest.raises(ValueError, match="pools"):
        SpikingPatchSplitting(3, 16, 5, IF)
    with pytest.raises(ValueError, match="depth"):
        create("spikformer", depth=0)
    with pytest.raises(ValueError, match=r"\[T, B, 3, H, W\]"):
        create("spikformer", embed_dim=16, depth=1, heads=2)(torch.rand(2, 1, 1, 8, 8))


def test_energy_counting_takes_the_attention_products_as_accumulates():
    torch.manual_seed(0)
    ssa = SpikingSelfAttention(8, 2, lambda: IF(v_th=0.5), IF(v_th=0.5)).eval()
    counts = count_operations(ssa, 3.0 * torch.randn(3, 2, 5, 8))
    attention = [r for r in counts.records if r.module == "" and r.op in ("bmm", "matmul")]
    assert len(attention) == 2  # Kᵀ V, then Q (Kᵀ V)
    assert all(r.kind == AC for r in attention)
    assert all(r.sops <= r.macs for r in attention)
