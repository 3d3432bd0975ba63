"""Building the pieces of a run from a config (``engine/build.py``): datasets, the model
sized from the data, the encoder, the optimiser and the per-step learning-rate schedule
(warm-up and cosine factors checked by hand)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from spikeforge.encoding import DirectEncoder
from spikeforge.engine.build import (
    build_datasets,
    build_encoder,
    build_model,
    build_optimizer,
    build_schedule,
    num_classes_of,
)
from spikeforge.engine.config import load_config
from spikeforge.neurons import IF


class _Data(torch.utils.data.Dataset):
    """``n`` samples of one shape, labels ``0..classes-1`` cycling."""

    def __init__(self, shape, n=6, classes=3, temporal=False, names=None):
        self.shape, self.n, self.temporal = shape, n, temporal
        self.labels = torch.arange(n) % classes
        if names is not None:
            self.classes = names

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        return torch.rand(self.shape), int(self.labels[i])


def test_datasets_are_the_configured_train_and_test_splits():
    train_set, test_set = build_datasets(load_config(None, ["data.name=digits"]))
    assert len(train_set) > len(test_set) > 0
    assert train_set[0][0].shape == test_set[0][0].shape == (1, 8, 8)


def test_num_classes_from_the_class_names_or_the_largest_label():
    assert num_classes_of(_Data((2,), classes=3)) == 3
    assert num_classes_of(_Data((2,), classes=3, names=["a", "b", "c", "d", "e"])) == 5
    sparse = _Data((2,), n=2)
    sparse.labels = torch.tensor([0, 7])  # labels never seen still count up to the largest
    assert num_classes_of(sparse) == 8


def test_an_image_model_is_sized_from_a_static_sample():
    config = load_config(None, ["model.name=csnn_tiny", "model.neuron=if"])
    model = build_model(config, _Data((3, 12, 12), classes=4))
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert conv.in_channels == 3
    assert any(isinstance(m, IF) for m in model.modules())
    # input_size 12 from the data: the classifier after the 12x12 feature maps fits
    assert model(torch.rand(2, 5, 3, 12, 12)).shape == (2, 5, 4)


def test_a_temporal_sample_drops_its_time_axis_and_given_sizes_win():
    config = load_config(None, ["model.name=csnn_tiny"])
    temporal = _Data((7, 2, 8, 8), classes=2, temporal=True)  # [T, C, H, W] per sample
    model = build_model(config, temporal)
    assert next(m for m in model.modules() if isinstance(m, nn.Conv2d)).in_channels == 2
    assert model(torch.rand(7, 3, 2, 8, 8)).shape == (7, 3, 2)
    config = load_config(None, ["model.name=csnn_tiny", "model.kwargs={in_channels: 5}"])
    model = build_model(config, _Data((3, 8, 8)))
    assert next(m for m in model.modules() if isinstance(m, nn.Conv2d)).in_channels == 5


def test_feature_vectors_are_not_sized_as_images():
    config = load_config(
        None, ["model.name=spiking_mlp", "model.kwargs={in_features: 6, hidden_sizes: [4]}"]
    )
    model = build_model(config, _Data((6,), classes=3))  # no in_channels/input_size passed
    assert model(torch.rand(2, 4, 6)).shape == (2, 4, 3)


def test_encoder_none_or_the_registered_one_with_the_timesteps():
    assert build_encoder(load_config(None, ["data.encoder=none"])) is None
    encoder = build_encoder(load_config(None, ["data.encoder=direct", "data.timesteps=3"]))
    assert isinstance(encoder, DirectEncoder)
    x = torch.rand(2, 1, 4, 4)
    out = encoder(x)
    assert out.shape == (3, 2, 1, 4, 4) and torch.equal(out[2], x)


def test_optimisers_by_name_with_their_settings():
    params = [nn.Parameter(torch.zeros(2))]
    adamw = build_optimizer(load_config(None, ["optim.lr=0.01", "optim.weight_decay=0.5"]), params)
    assert type(adamw) is torch.optim.AdamW
    assert adamw.defaults["lr"] == 0.01 and adamw.defaults["weight_decay"] == 0.5
    sgd = build_optimizer(load_config(None, ["optim.name=sgd", "optim.momentum=0.8"]), params)
    assert type(sgd) is torch.optim.SGD
    assert sgd.defaults["momentum"] == 0.8 and sgd.defaults["nesterov"] is True
    config = load_config(None)
    bad = dataclasses.replace(config, optim=dataclasses.replace(config.optim, name="adam"))
    with pytest.raises(ValueError, match="optim.name must be 'adamw' or 'sgd', got 'adam'"):
        build_optimizer(bad, params)


def _factors(overrides: list[str], steps_per_epoch: int, count: int) -> list[float]:
    config = load_config(None, overrides)
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = build_schedule(config, optimizer, steps_per_epoch)
    factors = []
    for _ in range(count):
        factors.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return factors


def test_linear_warm_up_then_cosine_to_zero_by_hand():
    # 2 epochs of 5 steps, warm-up 0.4 epoch = 2 steps, then cosine over the other 8
    got = _factors(["train.epochs=2", "optim.warmup_epochs=0.4"], 5, 12)
    cosine = [0.5 * (1 + math.cos(math.pi * k / 8)) for k in range(9)]
    expected = [1 / 2, 2 / 2, *cosine, 0.0]  # after the last step it stays at 0
    assert got == pytest.approx(expected, abs=1e-12)
    assert got[6] == pytest.approx(0.5)  # half-way through the decay


def test_constant_schedule_and_no_warm_up():
    got = _factors(["train.epochs=1", "optim.schedule=constant", "optim.warmup_epochs=1"], 4, 6)
    assert got == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    cosine = _factors(["train.epochs=1"], 4, 4)
    assert cosine == pytest.approx(
        [1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.5 * (1 + math.cos(3 * math.pi / 4))]
    )


def test_an_unknown_schedule_is_refused():
    config = load_config(None)
    bad = dataclasses.replace(config, optim=dataclasses.replace(config.optim, schedule="step"))
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(
        ValueError, match="optim.schedule must be 'cosine' or 'constant', got 'step'"
    ):
        build_schedule(bad, optimizer, 10)
