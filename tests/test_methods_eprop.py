"""The ``eprop`` method: gradients set forward in time, through the one trainer."""

import pytest
import torch
from torch import nn

from spikeforge.engine.config import load_config
from spikeforge.engine.run import make_trainer
from spikeforge.methods import METHODS, Eprop
from spikeforge.models.eprop_rsnn import EpropRSNN


def test_it_sets_the_models_eprop_gradients_and_evaluates_without_them():
    torch.manual_seed(0)
    net = EpropRSNN(5, 7, 3, v_th=0.5)
    x, y = 2.0 * torch.rand(6, 4, 5), torch.tensor([0, 1, 2, 1])
    terms = Eprop()(net, x, y)
    assert terms["output"].shape == (6, 4, 3) and not terms["loss"].requires_grad
    reference = EpropRSNN(5, 7, 3, v_th=0.5)
    reference.load_state_dict(net.state_dict())
    loss, _ = reference.eprop_gradients(x, y)
    assert torch.allclose(loss, terms["loss"])
    for p, q in zip(net.parameters(), reference.parameters(), strict=True):
        assert torch.equal(p.grad, q.grad)
    net.zero_grad(set_to_none=True)
    with torch.no_grad():
        terms = Eprop()(net, x, y)
    assert all(p.grad is None for p in net.parameters())


def test_wrong_model_objective_or_autocast_are_refused():
    with pytest.raises(ValueError, match="ce_per_step"):
        METHODS.create("eprop", objective="ce_membrane")
    x, y = torch.rand(3, 2, 5), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="eprop_rsnn"):
        Eprop()(nn.Linear(5, 3), x, y)
    with torch.autocast("cpu", dtype=torch.bfloat16), pytest.raises(ValueError, match="amp"):
        Eprop()(EpropRSNN(5, 7, 3), x, y)


def test_eprop_trains_digits_through_the_config(tmp_path):
    overrides = [
        "model.name=eprop_rsnn", "model.kwargs={hidden: 64}", "train.method=eprop",
        "train.objective=ce_per_step", "train.epochs=3", "train.progress=false",
        "data.timesteps=8", f"train.run_dir={tmp_path}",
    ]  # fmt: skip
    trainer = make_trainer(load_config(None, overrides), tmp_path / "r")
    assert trainer.fit()["test_acc"] > 0.5  # 10 classes: chance is 0.1
