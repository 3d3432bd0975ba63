"""``methods/mae.py``: ``train.method=mae``, masked-image pretraining through the engine's
one trainer (masks, the reconstruction loss, reproducible masks and bit-exact resume)."""

from __future__ import annotations

import pytest
import torch

from spikeforge.engine.config import load_config
from spikeforge.engine.run import make_trainer
from spikeforge.methods import METHODS
from spikeforge.methods.mae import MaskedImagePretraining
from spikeforge.models import create

# digits (8x8 -> 4x4 tokens of 2x2 px), the tiny pretraining model at T = 1, big batches
# so that an epoch is 6 steps
SMALL = [
    "data.name=digits",
    "data.timesteps=1",
    "data.batch_size=256",
    "data.options={test_size: 0.05}",
    "model.name=spikformer_v2_mae",
    "model.kwargs={embed_dim: 16, depth: 1, heads: 2, decoder_dim: 16}",
    "train.method=mae",
    "train.epochs=1",
    "train.progress=false",
    "train.tensorboard=false",
]


def _config(tmp_path, *extra):
    return load_config(None, [*SMALL, f"train.run_dir={tmp_path}", *extra])


def test_the_loss_is_the_models_reconstruction_loss_on_its_masks():
    torch.manual_seed(0)
    model = create("spikformer_v2_mae", in_channels=1, input_size=8, embed_dim=16, heads=2)
    method = METHODS.create("mae", objective="ce_membrane", seed=3)
    x = torch.rand(1, 5, 1, 8, 8)
    torch.manual_seed(7)
    terms = method(model, x, torch.zeros(5, dtype=torch.long))
    torch.manual_seed(7)
    visible = model.random_visible(5)  # the same global-RNG draw the method made
    assert torch.equal(terms["loss"], model(x, visible)["loss"])
    assert terms["output"].shape == (1, 5, 1) and not terms["output"].any()


@torch.no_grad()
def test_evaluation_masks_repeat_after_every_training_step():
    torch.manual_seed(0)
    model = create("spikformer_v2_mae", in_channels=1, input_size=8, embed_dim=16, heads=2)
    method = MaskedImagePretraining(seed=3)
    x, y = torch.rand(1, 4, 1, 8, 8), torch.zeros(4, dtype=torch.long)
    model.eval()
    first = [method(model, x, y)["loss"] for _ in range(2)]
    assert first[0] != first[1]  # successive evaluation batches: different masks
    model.train()
    method(model, x, y)
    model.eval()
    again = [method(model, x, y)["loss"] for _ in range(2)]
    assert [float(v) for v in again] == [float(v) for v in first]
    expected = model(x, model.random_visible(4, torch.Generator().manual_seed(3)))["loss"]
    assert float(expected) == float(first[0])  # seeded by the run's seed


def test_a_model_that_is_not_a_pretraining_model_is_refused():
    method = MaskedImagePretraining()
    model = create("spikformer_v2_tiny", in_channels=1, input_size=8)
    with pytest.raises(ValueError, match="train.method=mae needs a masked-pretraining model"):
        method(model, torch.rand(1, 2, 1, 8, 8), torch.zeros(2, dtype=torch.long))


def test_pretraining_through_the_trainer_resumes_bit_exactly(tmp_path, one_thread):
    # the masks come from the checkpointed global RNG: a run stopped after 3 of its 6
    # steps and resumed draws the same masks as the uninterrupted run
    whole = make_trainer(_config(tmp_path), tmp_path / "whole")
    whole.fit()
    broken = make_trainer(_config(tmp_path, "train.max_steps=3"), tmp_path / "broken")
    broken.fit()
    resumed = make_trainer(_config(tmp_path), tmp_path / "broken")
    resumed.fit(resume=True)
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    assert resumed.history[0]["test_loss"] == whole.history[0]["test_loss"]
    assert resumed.history[0]["train_loss"] == whole.history[0]["train_loss"]


@pytest.mark.slow
def test_pretraining_lowers_the_reconstruction_loss(tmp_path, one_thread):
    trainer = make_trainer(
        _config(tmp_path, "train.epochs=4", "data.batch_size=64", "optim.lr=0.003"), tmp_path
    )
    trainer.fit()
    test = [r["test_loss"] for r in trainer.history]
    assert test[-1] < test[0] and test[-1] < 0.9  # predicting 0 for normalised pixels: 1


def test_mask_ratio_loss_target_stem_and_t_come_from_the_config(tmp_path):
    config = _config(
        tmp_path,
        "model.kwargs={embed_dim: 16, depth: 1, heads: 2, decoder_dim: 16, mask_ratio: 0.5, "
        "norm_pix_loss: false, stem_order: sn_conv_bn, expand_ratio: 3}",
        "data.timesteps=2",
    )
    trainer = make_trainer(config, tmp_path / "run")
    model = trainer.model
    assert (model.mask_ratio, model.norm_pix_loss) == (0.5, False)
    stage = model.encoder.stem.stages[0]  # the stem's choices are config options too
    assert stage.down.order == "sn_conv_bn" and stage.expand.conv.out_channels == 3 * 16
    x, y = trainer._load(trainer.train_set, torch.arange(4))
    inputs = trainer.encode(x)
    assert inputs.shape[0] == 2  # T = 2 pretraining when asked
    torch.manual_seed(5)
    loss = trainer.method(model, inputs, y)["loss"]
    torch.manual_seed(5)
    visible = model.random_visible(4)
    assert visible.flatten(1).sum(1).eq(8).all()  # int(16 · 0.5) tokens kept
    assert torch.equal(loss, model(inputs, visible)["loss"])


def test_pretraining_through_the_cli_logs_no_accuracy_and_keeps_its_lowest_loss_epoch(
    tmp_path, capsys, one_thread
):
    import json

    from spikeforge.cli import main
    from spikeforge.engine.checkpoint import load_checkpoint

    overrides = [*SMALL, "train.epochs=3", "optim.lr=0.003", f"train.run_dir={tmp_path}"]
    assert main(["train", *overrides, "train.run_name=mae", "train.progress=true"]) == 0
    out = capsys.readouterr().out
    assert "final test loss" in out and "test acc" not in out
    run = tmp_path / "mae"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all("test_acc" not in r and "train_acc" not in r for r in records)
    losses = [r["test_loss"] for r in records]
    lowest = losses.index(min(losses)) + 1
    assert lowest > 1  # not the first epoch, where a constant accuracy kept best.pt
    assert load_checkpoint(run / "best.pt")["position"]["epoch"] == lowest
    assert main(["eval", "--checkpoint", str(run / "best.pt")]) == 0
    assert "test accuracy none (the method does not classify)" in capsys.readouterr().out
