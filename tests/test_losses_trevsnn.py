"""T-RevSNN's loss (``losses/trevsnn.py``): the step weights i/T plus the last head
again, label smoothing, the last-step readout, and the objective picked by a config."""

import math

import pytest
import torch

from spikeforge.engine.config import load_config
from spikeforge.engine.method import build_method
from spikeforge.losses import OBJECTIVES, LastStepDecoder, TRevSNNLoss
from spikeforge.losses.trevsnn import head_weights


def _ce(logits: list[float], target: int, smoothing: float = 0.0) -> float:
    """Cross-entropy by hand, with label smoothing ε: (1−ε)·(−log p_y) + ε·mean(−log p)."""
    z = math.log(sum(math.exp(v) for v in logits))
    nll = [z - v for v in logits]
    return (1 - smoothing) * nll[target] + smoothing * sum(nll) / len(nll)


def test_head_weights_are_i_over_t_plus_one_on_the_last():
    assert head_weights(4) == [0.25, 0.5, 0.75, 2.0]
    assert head_weights(1) == [2.0]
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        head_weights(0)


def test_the_loss_equals_a_hand_computation_with_label_smoothing():
    out = torch.tensor([[[1.0, 0.0, -1.0]], [[0.2, 0.3, 0.1]], [[-0.5, 2.0, 0.0]]])  # [3, 1, 3]
    y = torch.tensor([1])
    for eps in (0.0, 0.1):
        want = sum(w * _ce(out[i, 0].tolist(), 1, eps) for i, w in enumerate([1 / 3, 2 / 3, 2.0]))
        got = TRevSNNLoss(label_smoothing=eps)(out, y)
        assert got.item() == pytest.approx(want, rel=1e-6)


def test_the_readout_is_the_last_step_and_populations_are_averaged():
    out = torch.tensor([[[9.0, 0.0]], [[0.0, 1.0]]])  # step 1 says class 0, step 2 class 1
    assert LastStepDecoder().predict(out).tolist() == [1]
    assert isinstance(TRevSNNLoss().readout_decoder(), LastStepDecoder)
    grouped = torch.tensor([[[0.0, 4.0, 1.0, 1.0]]])  # classes: mean(0, 4) = 2 > mean(1, 1)
    assert LastStepDecoder(population=2)(grouped).tolist() == [[2.0, 1.0]]
    loss = TRevSNNLoss(population=2)(grouped, torch.tensor([0]))
    assert loss.item() == pytest.approx(2 * _ce([2.0, 1.0], 0))


def test_bad_outputs_are_refused_by_name():
    with pytest.raises(ValueError, match="outputs"):
        TRevSNNLoss()(torch.zeros(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="label_smoothing must lie in"):
        TRevSNNLoss(label_smoothing=1.0)


def test_a_config_picks_the_objective_and_its_label_smoothing():
    assert "trevsnn" in OBJECTIVES.names()
    config = load_config("digits_trevsnn")
    assert (config.train.objective, config.optim.label_smoothing) == ("trevsnn", 0.1)
    method = build_method(config)
    assert isinstance(method.objective, TRevSNNLoss)
    assert method.objective.label_smoothing == 0.1
