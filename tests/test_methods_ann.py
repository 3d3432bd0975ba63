from pathlib import Path

import pytest
import torch

from spikeforge.engine.config import load_config
from spikeforge.engine.run import train
from spikeforge.methods import METHODS, ANNMethod
from spikeforge.models import create

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_ann_method_feeds_the_time_mean_and_returns_one_step():
    model = create("ann_csnn_tiny").eval()
    method = METHODS.create("ann", objective="ce_membrane")
    assert isinstance(method, ANNMethod)
    image = torch.rand(5, 1, 8, 8)
    inputs = image.expand(4, *image.shape)  # direct encoding: the image at every step
    targets = torch.arange(5)
    terms = method(model, inputs, targets)
    assert terms["output"].shape == (1, 5, 10)
    torch.testing.assert_close(terms["output"][0], model(image))
    expected = torch.nn.functional.cross_entropy(model(image), targets)
    torch.testing.assert_close(terms["loss"], expected)


def test_ann_method_rejects_spiking_models_and_non_sequences():
    method = ANNMethod()
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        method(create("ann_csnn_tiny"), torch.rand(5, 64), torch.zeros(5, dtype=torch.long))
    snn = create("csnn_tiny")  # expects [T, B, ...]: gets [B, ...] and fails or mis-shapes
    with pytest.raises((ValueError, RuntimeError)):
        method(snn, torch.rand(2, 3, 1, 8, 8), torch.zeros(3, dtype=torch.long))


def test_trainer_trains_an_ann_twin(tmp_path):
    config = load_config(
        str(CONFIGS / "digits_ann.yaml"),
        ["train.epochs=2", "train.progress=false", f"train.run_dir={tmp_path}"],
    )
    _, final = train(config)
    assert final["test_acc"] > 0.8
    assert final["firing_rates"] == {}  # no spiking layer in an ANN
