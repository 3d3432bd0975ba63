"""``models/spikformer_v2_mae.py``: random token masks, patches, the masked-patch loss, the
non-spiking decoder and the pretraining model ``spikformer_v2_mae`` (METHODS §13)."""

from __future__ import annotations

import pytest
import torch

from spikeforge.models import create
from spikeforge.models.spikformer_v2 import upsample_mask
from spikeforge.models.spikformer_v2_mae import (
    SpikformerV2MAE,
    normalised_patches,
    patchify,
    random_visible,
    reconstruction_loss,
    unpatchify,
)

SMALL = {"embed_dim": 16, "depth": 1, "heads": 2}


@pytest.mark.parametrize(("h", "w", "ratio"), [(4, 4, 0.75), (8, 8, 0.6), (14, 14, 0.75),
                                               (3, 5, 0.0), (8, 8, 0.9)])  # fmt: skip
def test_each_sample_keeps_exactly_int_n_times_one_minus_ratio_tokens(h, w, ratio):
    visible = random_visible(32, (h, w), ratio, torch.Generator().manual_seed(0))
    assert visible.shape == (32, h, w)
    assert set(visible.unique().tolist()) <= {0.0, 1.0}
    keep = int(h * w * (1 - ratio))
    assert visible.flatten(1).sum(1).eq(keep).all()
    if 0 < keep < h * w:  # drawn per sample: not one mask for the batch
        assert len({tuple(v.flatten().tolist()) for v in visible}) > 1


def test_masks_cover_every_token_uniformly_and_bad_ratios_are_refused():
    visible = random_visible(4000, (4, 4), 0.75, torch.Generator().manual_seed(1))
    share = visible.mean(0)  # each token visible in about a quarter of the samples
    assert (share - 0.25).abs().max() < 0.03
    for ratio in (1.0, -0.1):
        with pytest.raises(ValueError, match=r"mask_ratio must lie in \[0, 1\)"):
            random_visible(2, (4, 4), ratio)
    with pytest.raises(ValueError, match="leaves no visible token of 4"):
        random_visible(2, (2, 2), 0.9)


def test_patchify_layout_and_round_trip():
    images = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    patches = patchify(images, 2)
    assert patches.shape == (2, 4, 12)
    # token 1 = rows 0-1, columns 2-3; pixels ordered (row, column, channel)
    expected = [images[0, c, r, 2 + q] for r in range(2) for q in range(2) for c in range(3)]
    assert patches[0, 1].tolist() == [float(v) for v in expected]
    assert torch.equal(unpatchify(patches, 2, 3, (2, 2)), images)
    with pytest.raises(ValueError, match="not divisible by the patch size 3"):
        patchify(images, 3)


def test_the_loss_covers_masked_patches_only_by_hand():
    target = torch.tensor([[[0.0, 2.0], [1.0, 1.0], [4.0, 0.0]]])  # [B=1, N=3, P=2]
    pred = torch.tensor([[[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]]])
    visible = torch.tensor([[1.0, 0.0, 0.0]])  # patch 0 visible, 1 and 2 masked
    raw = reconstruction_loss(pred, target, visible, norm_pix=False)
    # masked patch MSEs: ((0-1)^2 + (0-1)^2)/2 = 1 and ((2-4)^2 + (2-0)^2)/2 = 4
    assert raw.item() == pytest.approx((1 + 4) / 2)
    changed = pred.clone()
    changed[0, 0] = 100.0  # the visible patch's prediction does not count
    assert reconstruction_loss(changed, target, visible, norm_pix=False).item() == raw.item()
    changed[0, 2] = 100.0
    assert reconstruction_loss(changed, target, visible, norm_pix=False).item() != raw.item()
    # normalised pixels: patch 2 -> (±2)/sqrt(4 + 1e-6) = ±1, patch 1 (constant) -> 0
    normed = normalised_patches(target)
    torch.testing.assert_close(normed[0, 2], torch.tensor([1.0, -1.0]), atol=1e-6, rtol=0)
    assert normed[0, 1].abs().max() == 0
    norm = reconstruction_loss(pred, target, visible, norm_pix=True)
    assert norm.item() == pytest.approx(((0 + 0) / 2 + ((2 - 1) ** 2 + (2 + 1) ** 2) / 2) / 2)


def _model(**options) -> SpikformerV2MAE:
    torch.manual_seed(0)
    return create("spikformer_v2_mae", in_channels=3, input_size=16, **SMALL, **options)


def test_forward_shapes_and_the_masked_pixels_do_not_matter():
    model = _model(neuron_kwargs={"v_th": 0.5})
    x = 2 * torch.rand(1, 4, 3, 16, 16)
    visible = random_visible(4, model.grid, 0.75, torch.Generator().manual_seed(0))
    out = model(x, visible)
    assert out["pred"].shape == (4, 16, 4 * 4 * 3) and out["loss"].dim() == 0
    pixels = upsample_mask(visible, 4)[None, :, None].expand_as(x)
    noisy = torch.where(pixels == 0, torch.rand_like(x) * 5, x)
    assert torch.equal(model(noisy, visible)["pred"], out["pred"])
    # ... while the loss does see them: they are what it reconstructs
    assert model(noisy, visible)["loss"] != out["loss"]
    other = random_visible(4, model.grid, 0.75, torch.Generator().manual_seed(9))
    assert not torch.equal(model(x, other)["pred"], out["pred"])


@pytest.mark.parametrize("neuron", ["lif", "plif"])
def test_gradients_reach_every_encoder_and_decoder_parameter(neuron):
    # 4 visible tokens of 8 channels per head keep Q(KᵀV) counts far below the paper's
    # 0.5 attention threshold at T = 1: the tiny net fires its attention neuron earlier
    model = _model(neuron=neuron, neuron_kwargs={"v_th": 0.5}, attn_v_th=0.02)
    x = 2 * torch.rand(1, 8, 3, 16, 16)  # T = 1, as pretraining runs
    model(x, random_visible(8, model.grid, 0.75, torch.Generator().manual_seed(0)))[
        "loss"
    ].backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name
    assert any(n.startswith("encoder.stem.stages.0.down") for n, _ in model.named_parameters())


def test_the_decoder_uses_the_mask_token_at_masked_positions_only():
    model = _model().eval()
    x = torch.rand(1, 2, 3, 16, 16)
    visible = random_visible(2, model.grid, 0.75, torch.Generator().manual_seed(0))
    before = model(x, visible)["pred"]
    with torch.no_grad():
        model.decoder.mask_token.add_(1.0)
    after = model(x, visible)["pred"]
    assert not torch.equal(before, after)  # masked tokens are decoded from it
    full = torch.ones(2, 4, 4)  # nothing masked: the mask token is not used
    reference = model(x, full)["pred"]
    with torch.no_grad():
        model.decoder.mask_token.add_(1.0)
    assert torch.equal(model(x, full)["pred"], reference)


def test_any_number_of_timesteps_and_the_presets():
    model = _model(neuron_kwargs={"v_th": 0.5})
    out = model(torch.rand(3, 2, 3, 16, 16))  # T = 3; a random mask from the global RNG
    assert out["visible"].flatten(1).sum(1).eq(4).all()
    tiny = create("spikformer_v2_mae_tiny", in_channels=1, input_size=8)
    assert (tiny.encoder.embed_dim, tiny.grid, tiny.patch) == (64, (4, 4), 2)
    assert tiny.decoder.embed.out_features == 64 and len(tiny.decoder.layers) == 1
    assert tiny.mask_ratio == 0.75 and tiny.norm_pix_loss
    assert not hasattr(tiny.encoder.head, "weight")  # no classifier in pretraining
    with pytest.raises(ValueError, match="drop model.kwargs.pretrained"):
        create("spikformer_v2_mae", pretrained="x.pt", **SMALL)
    with pytest.raises(ValueError, match="decoder_dim .30. must be divisible by decoder_heads"):
        create("spikformer_v2_mae", decoder_dim=30, **SMALL)


def test_reconstruct_maps_normalised_predictions_back_to_pixels():
    model = _model()
    images = torch.rand(2, 3, 16, 16)
    perfect = normalised_patches(patchify(images, 4))  # what a perfect model predicts
    torch.testing.assert_close(model.reconstruct(perfect, images), images, atol=1e-4, rtol=0)
    raw = _model(norm_pix_loss=False)
    assert torch.equal(raw.reconstruct(patchify(images, 4), images), images)
