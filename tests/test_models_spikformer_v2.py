"""``models/spikformer_v2.py``: the spiking convolutional stem (SCS), sparse conv / sparse
BN under a token mask, the V2 encoder and loading a pretrained encoder (METHODS §13)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.models import create
from spikeforge.models.spikformer_v2 import (
    ConvBNSpiking,
    SCSStage,
    SpikformerV2,
    keep_indices,
    load_pretrained_encoder,
    sparse_batch_norm,
    spikformer_v2,
    upsample_mask,
)

SMALL = {"embed_dim": 16, "depth": 1, "heads": 2}


def _visible(batch: int, h: int, w: int, keep: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    order = torch.rand(batch, h * w, generator=generator).argsort(1)[:, :keep]
    return torch.zeros(batch, h * w).scatter_(1, order, 1.0).reshape(batch, h, w)


def test_sparse_bn_by_hand_on_a_tiny_tensor():
    # one channel, 2 frames of 1x3: values 1 2 3 / 4 5 6; visible: 1, 3, 5 (3 of 6)
    x = torch.tensor([[[[1.0, 2.0, 3.0]]], [[[4.0, 5.0, 6.0]]]])
    mask = torch.tensor([[[[1.0, 0.0, 1.0]]], [[[0.0, 1.0, 0.0]]]])
    norm = nn.BatchNorm2d(1, momentum=0.1)
    with torch.no_grad():
        norm.weight.fill_(2.0)
        norm.bias.fill_(0.5)
    y = sparse_batch_norm(x, mask, norm)
    mean = (1 + 3 + 5) / 3  # 3
    var = ((1 - 3) ** 2 + 0 + (5 - 3) ** 2) / 3  # 8/3, the biased variance
    scale = 2.0 / (var + norm.eps) ** 0.5
    expected = torch.tensor([[[[(1 - mean) * scale + 0.5, 0.0, (3 - mean) * scale + 0.5]]],
                             [[[0.0, (5 - mean) * scale + 0.5, 0.0]]]])  # fmt: skip
    torch.testing.assert_close(y, expected)
    assert y[mask == 0].eq(0).all()  # exactly zero, not merely small
    # running statistics: momentum 0.1 towards the visible mean and UNBIASED variance (4)
    torch.testing.assert_close(norm.running_mean, torch.tensor([0.9 * 0 + 0.1 * 3.0]))
    torch.testing.assert_close(norm.running_var, torch.tensor([0.9 * 1 + 0.1 * 4.0]))
    assert int(norm.num_batches_tracked) == 1
    # changing masked values changes nothing
    x2 = x.clone()
    x2[mask == 0] = 1e3
    torch.testing.assert_close(sparse_batch_norm(x2, mask, nn.BatchNorm2d(1)),
                               sparse_batch_norm(x, mask, nn.BatchNorm2d(1)))  # fmt: skip


def test_sparse_bn_with_nothing_masked_is_batchnorm_train_and_eval():
    torch.manual_seed(0)
    x = torch.randn(6, 3, 4, 5, dtype=torch.float64)
    ours, ref = nn.BatchNorm2d(3).double(), nn.BatchNorm2d(3).double()
    with torch.no_grad():
        for bn in (ours, ref):
            bn.weight.copy_(torch.tensor([0.5, 1.0, 2.0]))
            bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    ones = torch.ones(6, 1, 4, 5, dtype=torch.float64)
    torch.testing.assert_close(sparse_batch_norm(x, ones, ours), ref(x))
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    torch.testing.assert_close(ours.running_var, ref.running_var)
    ours.eval(), ref.eval()
    torch.testing.assert_close(sparse_batch_norm(x, ones, ours), ref(x))


def test_sparse_bn_gradient_float64():
    torch.manual_seed(0)
    x = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    mask = (torch.rand(3, 1, 3, 3) > 0.4).double()
    norm = nn.BatchNorm2d(2).double()
    torch.autograd.gradcheck(lambda v: sparse_batch_norm(v, mask, norm), (x,))


def test_upsample_mask_and_keep_indices():
    visible = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    up = upsample_mask(visible, 2)
    assert up.shape == (1, 4, 4)
    assert up[0, :2, :2].eq(1).all() and up[0, :2, 2:].eq(0).all() and up[0, 2:, 2:].eq(1).all()
    assert keep_indices(visible).tolist() == [[0, 3]]
    with pytest.raises(ValueError, match="same number of tokens"):
        keep_indices(torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]]]))
    with pytest.raises(ValueError, match=r"visible must be \[B, h, w\]"):
        upsample_mask(torch.ones(4), 2)


@pytest.mark.parametrize(("size", "stages", "factors"), [(8, 1, [1]), (32, 2, [2, 1]),
                                                         (64, 3, [4, 2, 1]),
                                                         (224, 4, [8, 4, 2, 1])])  # fmt: skip
def test_upsampling_factors_match_every_stage_resolution(size, stages, factors):
    torch.manual_seed(0)
    model = spikformer_v2(3, 1, size, embed_dim=16, depth=1, heads=2, stages=stages)
    stem = model.stem
    assert stem.factors == factors and stem.patch_size == 2**stages
    grid = size // 2**stages
    seen: list[tuple[int, int]] = []
    for stage in stem.stages:
        stage.register_forward_hook(lambda m, a, out: seen.append(tuple(out.shape[-2:])))
    visible = _visible(1, grid, grid, max(1, grid * grid // 4))
    model.forward_tokens(torch.rand(1, 1, 1, size, size), visible)
    assert seen == [tuple(upsample_mask(visible, f).shape[1:]) for f in factors]
    if size == 224:  # the paper's 14x14 grid: x8, x4, x2 for stem stages 1-3
        assert grid == 14 and factors[:3] == [8, 4, 2]


def _masked_everywhere(model: SpikformerV2, x: torch.Tensor, visible: torch.Tensor) -> dict:
    """What every ConvBNSpiking's parts see and give, each with the mask at its own
    resolution ``[T·B or T, B, 1, H, W]``-broadcastable: the neurons' input currents and
    raw spikes, the convs' inputs (what the layer before passes on) and the layers'
    outputs."""
    steps = x.shape[0]
    seen: dict[str, list] = {"current": [], "raw": [], "conv_in": [], "out": []}

    def masked(tensor, folded):
        mask = upsample_mask(visible, tensor.shape[-1] // visible.shape[-1])
        mask = mask.repeat(steps, 1, 1)[:, None] if folded else mask[None, :, None]
        return tensor.detach(), (mask == 0).expand_as(tensor)

    def neuron(module, args, out):
        seen["current"].append(masked(args[0], False))
        seen["raw"].append(masked(out, False))

    for module in model.modules():
        if isinstance(module, ConvBNSpiking):
            module.neuron.register_forward_hook(neuron)
            module.conv.register_forward_hook(
                lambda m, a, out: seen["conv_in"].append(masked(a[0], True))
            )
            module.register_forward_hook(lambda m, a, out: seen["out"].append(masked(out, False)))
    model.forward_tokens(x, visible)
    return seen


class FiresAtZero(nn.Module):
    """A neuron that spikes wherever its input is >= 0, zero input included: with it
    only the masking of the spikes keeps masked positions silent."""

    def __init__(self, **options) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x >= 0).to(x)


@pytest.mark.parametrize("order", ["conv_bn_sn", "sn_conv_bn"])
@pytest.mark.parametrize("neuron", ["lif", "plif", "if", FiresAtZero])
def test_outputs_and_spikes_at_masked_positions_are_exactly_zero_in_every_stage(neuron, order):
    torch.manual_seed(0)
    options = {} if neuron is FiresAtZero else {"neuron_kwargs": {"v_th": 0.5}}
    model = spikformer_v2(3, 3, 32, neuron=neuron, stem_order=order, **options, **SMALL)
    visible = _visible(2, 8, 8, 16)
    seen = _masked_everywhere(model, 3 * torch.rand(2, 2, 3, 32, 32), visible)
    assert all(len(v) == 2 * 3 + 1 for v in seen.values())  # 2 stages of 3 convs, the RPE
    for part in ("current", "conv_in", "out"):  # what reaches a neuron, a conv, the next layer
        for values, hidden in seen[part]:
            assert values[hidden].eq(0).all(), part
            assert values[~hidden].ne(0).any(), part  # the visible part is alive
    if neuron is not FiresAtZero:  # zero current never fires these neurons anyway
        assert all(values[hidden].eq(0).all() for values, hidden in seen["raw"])
    else:  # this one fires on zero: only the masking of its spikes silences them
        assert all(values[hidden].eq(1).all() for values, hidden in seen["raw"])


@pytest.mark.parametrize(("train", "order"), [(True, "conv_bn_sn"), (False, "conv_bn_sn"),
                                             (True, "sn_conv_bn")])  # fmt: skip
def test_perturbing_masked_pixels_leaves_the_encoder_output_unchanged(train, order):
    torch.manual_seed(0)
    model = spikformer_v2(3, 3, 32, neuron_kwargs={"v_th": 0.5}, stem_order=order, **SMALL)
    visible = _visible(3, 8, 8, 16, seed=1)
    x = 2 * torch.rand(2, 3, 3, 32, 32)
    if not train:  # running statistics of real activity, so that eval mode fires
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d):
                module.momentum = 1.0
        model(x)
        model.eval()
    pixels = upsample_mask(visible, 4)[None, :, None].expand_as(x)
    noisy = torch.where(pixels == 0, 10 * torch.randn_like(x), x)
    assert not torch.equal(noisy, x)
    torch.manual_seed(1)
    reference = model.forward_tokens(x, visible)
    perturbed = model.forward_tokens(noisy, visible)
    assert reference.shape == (2, 3, 16, 16)  # only the 16 visible tokens
    assert reference.ne(0).any()
    assert torch.equal(reference, perturbed)
    # and without the mask the same perturbation does change it
    assert not torch.equal(model.forward_tokens(x), model.forward_tokens(noisy))


def test_all_visible_sparse_path_equals_the_dense_one():
    torch.manual_seed(0)
    model = spikformer_v2(3, 3, 16, neuron_kwargs={"v_th": 0.5}, **SMALL)
    x = 2 * torch.rand(2, 4, 3, 16, 16)
    dense = model.forward_tokens(x)
    torch.testing.assert_close(model.forward_tokens(x, torch.ones(4, 4, 4)), dense)


def test_stage_layout_widths_and_expansion():
    stage = SCSStage(3, 8, 2.0, lambda: nn.Identity())
    assert (stage.down.conv.stride, stage.down.conv.in_channels) == ((2, 2), 3)
    assert stage.expand.conv.out_channels == 16 and stage.reduce.conv.out_channels == 8
    assert isinstance(stage.down.norm, nn.BatchNorm2d) and stage.down.conv.bias is None
    model = spikformer_v2(10, 3, 224, embed_dim=64, depth=1, heads=4, expand_ratio=3.0)
    widths = [s.down.conv.out_channels for s in model.stem.stages]
    assert widths == [8, 16, 32, 64] and model.stem.stages[0].expand.conv.out_channels == 24


def test_zoo_names_presets_and_shapes():
    torch.manual_seed(0)
    tiny = create("spikformer_v2_tiny", num_classes=10, in_channels=1, input_size=8)
    assert (tiny.embed_dim, len(tiny.blocks), tiny.patch_size) == (64, 1, 2)
    assert tiny(torch.rand(3, 2, 1, 8, 8)).shape == (3, 2, 10)
    big = spikformer_v2(1000, 3, 224, preset="8_512", depth=1)  # one block keeps it quick
    assert (big.embed_dim, big.patch_size) == (512, 16)
    with pytest.raises(ValueError, match="unknown spikformer_v2 preset 'huge'"):
        spikformer_v2(preset="huge")
    with pytest.raises(ValueError, match="not divisible by the patch size 4"):
        spikformer_v2(input_size=30, **SMALL)
    with pytest.raises(ValueError, match=r"input must be \[T, B, 3, H, W\]"):
        tiny3 = spikformer_v2(**SMALL)
        tiny3(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"visible must be \[B, H/4, W/4\]"):
        spikformer_v2(**SMALL).forward_tokens(torch.rand(1, 2, 3, 32, 32), torch.ones(2, 4, 4))


def _save_pretraining_checkpoint(path, **options) -> nn.Module:
    torch.manual_seed(3)
    mae = create("spikformer_v2_mae", in_channels=3, input_size=16, **SMALL, **options)
    torch.save({"model": mae.state_dict(), "config": {}}, path)
    return mae


def test_loading_a_pretrained_encoder_drops_the_decoder(tmp_path):
    path = tmp_path / "last.pt"
    mae = _save_pretraining_checkpoint(path)
    torch.manual_seed(0)
    model = create("spikformer_v2", num_classes=10, input_size=16, pretrained=str(path), **SMALL)
    names = [n for n, _ in model.named_parameters()]
    assert not any("decoder" in n or "mask_token" in n for n in names)
    plain = spikformer_v2(10, 3, 16, **SMALL)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in plain.parameters())
    encoder = mae.encoder.state_dict()
    for key, value in model.state_dict().items():
        if not key.startswith("head."):
            assert torch.equal(value, encoder[key]), key


def test_loading_refuses_what_does_not_fit(tmp_path):
    model = spikformer_v2(10, 3, 16, **SMALL)
    with pytest.raises(ValueError, match="does not exist"):
        load_pretrained_encoder(model, tmp_path / "nope.pt")
    torch.save({"model": {"layer.weight": torch.zeros(1)}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="no encoder.* weights.*spikformer_v2_mae"):
        load_pretrained_encoder(model, tmp_path / "other.pt")
    _save_pretraining_checkpoint(tmp_path / "wide.pt", expand_ratio=3.0)
    with pytest.raises(ValueError, match="does not fit this spikformer_v2"):
        load_pretrained_encoder(model, tmp_path / "wide.pt")
    mae = _save_pretraining_checkpoint(tmp_path / "pre.pt")
    config = {"model": {"kwargs": {"stem_order": "sn_conv_bn"}}}
    torch.save({"model": mae.state_dict(), "config": config}, tmp_path / "pre.pt")
    with pytest.raises(ValueError, match="pretrained with stem_order='sn_conv_bn'"):
        load_pretrained_encoder(model, tmp_path / "pre.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="cannot be read"):
        load_pretrained_encoder(model, tmp_path / "junk.pt")


def test_every_stem_conv_normalises_with_visible_statistics_only():
    torch.manual_seed(0)
    layer = ConvBNSpiking(2, 3, lambda: nn.Identity())
    layer.norm.momentum = 1.0  # running statistics = this batch's
    x, visible = torch.rand(2, 3, 2, 6, 6), _visible(3, 6, 6, 9)
    out = layer(x, visible)
    conv = layer.conv(x.flatten(0, 1)).detach()
    mask = visible.repeat(2, 1, 1)[:, None]  # [T·B, 1, H, W], time major
    mean = (conv * mask).sum((0, 2, 3)) / mask.sum()
    var = ((conv - mean[None, :, None, None]) ** 2 * mask).sum((0, 2, 3)) / (mask.sum() - 1)
    torch.testing.assert_close(layer.norm.running_mean, mean)
    torch.testing.assert_close(layer.norm.running_var, var)
    assert not torch.allclose(conv.mean((0, 2, 3)), mean)  # dense statistics differ
    biased = var * (mask.sum() - 1) / mask.sum()
    expected = (conv - mean[None, :, None, None]) / (biased[None, :, None, None] + 1e-5).sqrt()
    torch.testing.assert_close(out.flatten(0, 1), expected * mask)


def test_the_neuron_first_stem_order_and_its_gradients():
    torch.manual_seed(0)
    model = spikformer_v2(3, 3, 16, stem_order="sn_conv_bn", neuron_kwargs={"v_th": 0.5},
                          attn_v_th=0.02, **SMALL)  # fmt: skip
    layer = model.stem.stages[0].down
    seen = {}
    layer.neuron.register_forward_hook(lambda m, a, out: seen.setdefault("spikes", out))
    layer.norm.register_forward_hook(lambda m, a, out: seen.setdefault("bn", out))
    x = 2 * torch.rand(2, 4, 3, 16, 16)
    model(x).sum().backward()
    assert seen["spikes"].shape == (2, 4, 3, 16, 16)  # the image itself is spiked first
    assert set(seen["spikes"].unique().tolist()) <= {0.0, 1.0}
    assert seen["bn"].shape == (8, 8, 8, 8)  # ... and the layer hands BN outputs on
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match="stem_order must be one of"):
        spikformer_v2(stem_order="bn_first", **SMALL)
