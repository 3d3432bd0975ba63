from pathlib import Path

import pytest
import torch

from spikeforge.engine.config import load_config
from spikeforge.engine.run import make_trainer, resume, train
from spikeforge.methods import METHODS, HybridMethod
from spikeforge.methods.conversion import ConvertedSNN
from spikeforge.models import create

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


pytestmark = pytest.mark.usefixtures("one_thread")


def _hybrid_overrides(checkpoint: Path, run_dir: Path, *extra: str) -> list[str]:
    return [
        f"model.kwargs={{checkpoint: '{checkpoint}', learn_threshold: true}}",
        "train.progress=false",
        f"train.run_dir={run_dir}",
        *extra,
    ]


def test_hybrid_fine_tuning_keeps_or_improves_accuracy_at_t4(digits_ann_checkpoint, tmp_path):
    config = load_config(
        CONFIGS / "digits_hybrid.yaml",
        _hybrid_overrides(digits_ann_checkpoint, tmp_path, "train.epochs=2"),
    )
    assert config.data.timesteps == 4
    trainer = make_trainer(config, tmp_path / "probe")
    assert isinstance(trainer.model, ConvertedSNN)
    thresholds = {k: v.clone() for k, v in trainer.model.thresholds().items()}
    before = trainer.evaluate(trainer.test_set)["accuracy"]  # converted SNN at T=4
    trainer, final = train(config)
    assert final["test_acc"] >= before - 0.01, (before, final["test_acc"])
    assert all(0.0 < r < 1.0 for r in final["firing_rates"].values())
    moved = [not torch.equal(v, thresholds[k]) for k, v in trainer.model.thresholds().items()]
    assert any(moved)  # learnable thresholds were trained


def test_fixed_thresholds_and_resume(digits_ann_checkpoint, tmp_path):
    overrides = _hybrid_overrides(
        digits_ann_checkpoint,
        tmp_path,
        "train.max_steps=3",
        "train.checkpoint_every=3",
        "train.epochs=1",
    )
    # merged into the file's kwargs (learn_threshold: true there): switched off explicitly
    overrides[0] = (
        f"model.kwargs={{checkpoint: '{digits_ann_checkpoint}', calibration: max, "
        "learn_threshold: false}"
    )
    config = load_config(CONFIGS / "digits_hybrid.yaml", overrides)
    trainer, _ = train(config)
    assert not any(n.endswith("scale") for n, _ in trainer.model.named_parameters())
    resumed, _ = resume(trainer.run_dir, ["train.max_steps=5"])
    assert resumed.position.step == 5


def test_hybrid_needs_a_converted_model():
    method = METHODS.create("hybrid", objective="ce_membrane")
    assert isinstance(method, HybridMethod)
    with pytest.raises(TypeError, match="model.name=converted"):
        method(create("csnn_tiny"), torch.rand(2, 3, 1, 8, 8), torch.zeros(3, dtype=torch.long))
