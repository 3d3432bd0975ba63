"""``engine/pretrained.py``: ANNs rebuilt from their checkpoints (:func:`load_ann`) and the
registered model ``converted`` (the SNN converted from an ANN checkpoint, or from its
freshly initialised architecture with ``random_init``, or an uncalibrated template)."""

from __future__ import annotations

import pytest
import torch

from spikeforge.engine.pretrained import PretrainedANN, load_ann, load_ann_config
from spikeforge.methods.conversion import ConvertedSNN
from spikeforge.models import create
from spikeforge.neurons import IF
from spikeforge.surrogates import ATan

pytestmark = pytest.mark.usefixtures("one_thread")


def _checkpoint_state(path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def test_load_ann_rebuilds_the_trained_network_in_eval_mode(digits_ann_checkpoint):
    loaded = load_ann(digits_ann_checkpoint)
    assert isinstance(loaded, PretrainedANN)
    ann, config, train_set, test_set = loaded
    assert not ann.training and config.train.method == "ann" and config.data.name == "digits"
    assert len(train_set) > len(test_set) > 0
    saved = _checkpoint_state(digits_ann_checkpoint)
    assert ann.state_dict().keys() == saved.keys()
    assert all(torch.equal(ann.state_dict()[k], saved[k]) for k in saved)
    x = torch.stack([test_set[i][0] for i in range(64)])
    y = torch.tensor([test_set[i][1] for i in range(64)])
    assert float((ann(x).argmax(1) == y).float().mean()) > 0.5  # trained, not random


def test_without_weights_the_same_architecture_freshly_initialised(digits_ann_checkpoint):
    torch.manual_seed(0)
    fresh = load_ann(digits_ann_checkpoint, weights=False).ann
    saved = _checkpoint_state(digits_ann_checkpoint)
    state = fresh.state_dict()
    assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in saved.items()}
    weights = [k for k in saved if k.endswith("weight")]
    assert weights and not any(torch.equal(state[k], saved[k]) for k in weights)


def test_a_checkpoint_of_another_method_is_refused(digits_ann_checkpoint, tmp_path):
    config, payload = load_ann_config(digits_ann_checkpoint)
    assert config.train.method == "ann" and "model" in payload
    payload["config"]["train"]["method"] = "bptt"
    other = tmp_path / "snn.pt"
    torch.save(payload, other)
    message = r"is a train.method='bptt' run; an ANN trained with train.method=ann is needed"
    with pytest.raises(ValueError, match=message):
        load_ann(other)
    with pytest.raises(ValueError, match=message):
        create("converted", checkpoint=str(other))


def _converted(checkpoint, seed: int | None = None, **options) -> ConvertedSNN:
    if seed is not None:
        torch.manual_seed(seed)
    return create("converted", checkpoint=str(checkpoint), calibration_samples=64, **options)


def test_converted_runs_the_checkpoints_ann_and_records_where_it_came_from(digits_ann_checkpoint):
    snn = _converted(digits_ann_checkpoint, num_classes=10, in_channels=1, input_size=8)
    assert isinstance(snn, ConvertedSNN) and not snn.training
    assert snn.info["ann_checkpoint"] == str(digits_ann_checkpoint)
    assert snn.info["ann_dataset"] == "digits" and snn.info["random_init"] is False
    assert "percentile=99.9" in snn.info["calibration"] and snn.info["calibration_samples"] == 64
    ann, _, _, test_set = load_ann(digits_ann_checkpoint)
    x = torch.stack([test_set[i][0] for i in range(32)])
    with torch.no_grad():  # as an ANN (BatchNorm folded): the checkpoint's function
        torch.testing.assert_close(snn.analog(x), ann(x), rtol=1e-4, atol=1e-4)
    assert _converted(digits_ann_checkpoint, calibration="max").info["calibration"] == "MaxRecipe()"


def _firing_rates(snn: ConvertedSNN, x: torch.Tensor) -> dict[str, float]:
    rates: dict[str, float] = {}
    hooks = [
        m.register_forward_hook(
            lambda mod, i, o, n=n: rates.__setitem__(n, float((o > 0).float().mean()))
        )
        for n, m in snn.neurons().items()
    ]
    with torch.no_grad():
        snn(x.expand(8, *x.shape))
    for h in hooks:
        h.remove()
    return rates


def test_random_init_converts_the_architecture_freshly_initialised(digits_ann_checkpoint):
    trained = _converted(digits_ann_checkpoint)
    random = _converted(digits_ann_checkpoint, seed=3, random_init=True)
    assert random.info["random_init"] is True
    # the same architecture: every tensor of the converted network, same name and shape
    shapes = {k: v.shape for k, v in trained.state_dict().items()}
    assert {k: v.shape for k, v in random.state_dict().items()} == shapes
    # other weights than the checkpoint's
    weights = [k for k in shapes if k.endswith("weight")]
    assert weights
    assert not any(torch.equal(random.state_dict()[k], trained.state_dict()[k]) for k in weights)
    # calibrated, not the template's V_th = 1: thresholds of its own, and every layer fires
    thresholds = random.thresholds()
    assert thresholds.keys() == trained.thresholds().keys()
    assert all(float(v.min()) > 0 for v in thresholds.values())
    assert not all(torch.equal(v, torch.tensor(1.0)) for v in thresholds.values())
    assert any(not torch.equal(v, trained.thresholds()[k]) for k, v in thresholds.items())
    _, _, train_set, _ = load_ann(digits_ann_checkpoint)
    x = torch.stack([train_set[i][0] for i in range(32)])
    assert all(rate > 0 for rate in _firing_rates(random, x).values())


def test_random_init_is_reproducible_from_the_seed(digits_ann_checkpoint):
    first = _converted(digits_ann_checkpoint, seed=3, random_init=True).state_dict()
    again = _converted(digits_ann_checkpoint, seed=3, random_init=True).state_dict()
    other = _converted(digits_ann_checkpoint, seed=4, random_init=True).state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)


def test_converted_refuses_data_that_do_not_fit_the_ann(digits_ann_checkpoint):
    with pytest.raises(ValueError, match="random_init=true needs model.kwargs.checkpoint"):
        create("converted", random_init=True)
    with pytest.raises(
        ValueError, match="in_channels: the ANN in .* was trained on 1, the data here have 3"
    ):
        _converted(digits_ann_checkpoint, in_channels=3)
    with pytest.raises(ValueError, match="input_size: .* trained on 8, the data here have 28"):
        _converted(digits_ann_checkpoint, input_size=28)
    with pytest.raises(ValueError, match="num_classes: the ANN has 10 outputs, the data 5"):
        _converted(digits_ann_checkpoint, num_classes=5)
    with pytest.raises(ValueError, match="converted neurons must be one of if, lif, plif"):
        _converted(digits_ann_checkpoint, neuron="alif")


def test_converted_template_without_checkpoint_and_leaky_neurons():
    template = create("converted", num_classes=5, in_channels=3, neuron="plif")
    assert isinstance(template, ConvertedSNN)
    assert all(torch.equal(v, torch.tensor(1.0)) for v in template.thresholds().values())
    x = torch.rand(2, 3, 3, 16, 16)
    out = template(x)
    assert out.shape == (2, 3, 5)
    out.sum().backward()
    assert all(p.grad is not None for p in template.parameters())


def test_converted_takes_a_surrogate_with_its_options_given_once():
    template = create("converted", num_classes=5, surrogate={"name": "atan", "alpha": 4})
    found = [m.surrogate for m in template.modules() if isinstance(m, IF)]
    assert found and all(s == ATan(alpha=4.0) for s in found)
    with pytest.raises(ValueError, match="surrogate is given twice"):
        create("converted", surrogate="atan", neuron_kwargs={"surrogate": "sigmoid"})
