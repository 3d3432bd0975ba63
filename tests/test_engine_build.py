"""Building the pieces of a run from a config (``engine/build.py``): datasets, the model
sized from the data, the encoder, the optimiser and the per-step learning-rate schedule
(warm-up and cosine factors checked by hand)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from spikeforge.encoding import DirectEncoder, FirstSpikeDecoder, MembraneDecoder, PopulationDecoder
from spikeforge.engine.build import (
    build_datasets,
    build_decoder,
    build_encoder,
    build_model,
    build_optimizer,
    build_schedule,
    num_classes_of,
)
from spikeforge.engine.config import load_config
from spikeforge.engine.method import build_method
from spikeforge.engine.run import train
from spikeforge.neurons import IF, LIF, RLIF
from spikeforge.surrogates import ATan, Sigmoid


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


def test_a_model_with_its_own_timesteps_must_match_the_datas():
    """T-RevSNN has one column per step: a config whose model T differs from the data's
    is refused at build time, naming both keys; matching ones build."""
    base = ["model.name=trevsnn_cifar", "model.neuron=q"]
    config = load_config(None, [*base, "model.kwargs={timesteps: 3}", "data.timesteps=4"])
    with pytest.raises(ValueError, match=r"model.kwargs.timesteps=3 but data.timesteps=4"):
        build_model(config, _Data((3, 8, 8)))
    config = load_config(None, [*base, "model.kwargs={timesteps: 3}", "data.timesteps=3"])
    assert len(build_model(config, _Data((3, 8, 8))).columns) == 3
    # data that is already [T, ...] (encoder none) is not the encoder's T: not checked here
    config = load_config(None, [*base, "model.kwargs={timesteps: 3}", "data.encoder=none"])
    assert len(build_model(config, _Data((3, 8, 8))).columns) == 3


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


# -- model.surrogate: a name or a mapping with its options --------------------------------
def _mlp(*extra: str):
    overrides = ["model.name=spiking_mlp", "model.kwargs={in_features: 6, hidden_sizes: [4]}"]
    return build_model(load_config(None, [*overrides, *extra]), _Data((6,), classes=3))


def _atan_gradient(alpha: float, x: float) -> float:
    """d/dx of the atan surrogate: α / (2 (1 + (π α x / 2)²))."""
    return alpha / (2.0 * (1.0 + (0.5 * math.pi * alpha * x) ** 2))


def test_a_surrogate_mapping_sets_the_sharpness_of_every_neuron():
    model = _mlp("model.surrogate={name: atan, alpha: 4}")
    (neuron,) = [m for m in model.modules() if isinstance(m, LIF)]
    assert neuron.surrogate == ATan(alpha=4.0)
    # The real gradient at a point: from rest, one step of a τ=2 LIF charges H = X/2, so
    # dS/dX = σ'(H - V_th) / 2 with σ' the atan derivative at α = 4 (not the default 2).
    x = torch.full((1, 1, 4), 2.3, requires_grad=True)
    neuron(x).sum().backward()
    expected = _atan_gradient(4.0, 2.3 / 2 - 1.0) / 2
    assert expected != pytest.approx(_atan_gradient(2.0, 2.3 / 2 - 1.0) / 2)
    torch.testing.assert_close(x.grad, torch.full_like(x, expected))


def test_a_plain_surrogate_name_still_works_and_bad_settings_name_the_key():
    (neuron,) = [m for m in _mlp("model.surrogate=sigmoid").modules() if isinstance(m, LIF)]
    assert neuron.surrogate == Sigmoid()
    with pytest.raises(ValueError, match="model.surrogate: unknown surrogate 'atann'; registered"):
        _mlp("model.surrogate={name: atann}")
    with pytest.raises(ValueError, match="model.surrogate: surrogate 'atan' has no option.*gamma"):
        _mlp("model.surrogate={name: atan, gamma: 1}")
    with pytest.raises(ValueError, match=r"model.surrogate=\{'alpha': 4\} has no name"):
        _mlp("model.surrogate.alpha=4")  # replaced the name: say so, do not guess atan


def test_the_surrogate_in_model_and_in_neuron_kwargs_must_agree():
    with pytest.raises(ValueError, match="given twice.*model.surrogate.*neuron_kwargs.surrogate"):
        _mlp("model.surrogate=atan", "model.neuron_kwargs={surrogate: sigmoid}")
    agreed = _mlp("model.surrogate=sigmoid", "model.neuron_kwargs={surrogate: sigmoid}")
    assert [m.surrogate for m in agreed.modules() if isinstance(m, LIF)] == [Sigmoid()]


# -- RLIF: each layer's recurrent weights sized from that layer ---------------------------
def test_rlif_layers_of_different_widths_train_from_a_config(tmp_path):
    config = load_config(
        None,
        [
            "model.name=spiking_mlp",
            "model.neuron=rlif",
            "model.kwargs={hidden_sizes: [64, 32]}",
            "train.epochs=1",
            "train.max_steps=3",
            "train.progress=false",
            "train.tensorboard=false",
            "data.batch_size=64",
            f"train.run_dir={tmp_path}",
        ],
    )
    trainer, _ = train(config, run_dir=tmp_path / "rlif")
    neurons = [m for m in trainer.model.modules() if isinstance(m, RLIF)]
    assert [tuple(m.recurrent_weight.shape) for m in neurons] == [(64,), (32,)]
    assert trainer.position.step == 3 and (tmp_path / "rlif" / "last.pt").is_file()
    assert trainer.loss_count == 3 and math.isfinite(trainer.loss_sum)
    torch.manual_seed(config.train.seed)  # as make_trainer: the run's initial weights
    fresh = build_model(config, trainer.train_set)
    moved = [
        not torch.equal(a.recurrent_weight, b.recurrent_weight.to(a.recurrent_weight))
        for a, b in zip(neurons, [m for m in fresh.modules() if isinstance(m, RLIF)], strict=True)
    ]
    assert any(moved)  # the recurrent weights learn
    all_to_all = build_model(
        load_config(None, ["model.name=spiking_mlp", "model.neuron=rlif",
                           "model.kwargs={hidden_sizes: [5, 3]}",
                           "model.neuron_kwargs={all_to_all: true}"]),
        _Data((6,), classes=3),
    )  # fmt: skip
    shapes = [tuple(m.recurrent_weight.shape) for m in all_to_all.modules() if isinstance(m, RLIF)]
    assert shapes == [(5, 5), (3, 3)]


# -- the output contract: decoders ------------------------------------------------------
def test_the_decoder_is_the_objectives_own_readout_unless_one_is_configured():
    data = _Data((1, 8, 8), classes=3)

    def decoder(*overrides):
        config = load_config(None, list(overrides))
        model = build_model(config, data)
        return build_decoder(config, model, build_method(config, model=model))

    default = decoder()  # ce_membrane: the membrane's time mean, as before decoders
    assert type(default) is MembraneDecoder and default.reduction == "mean"
    assert decoder("train.method_options={reduction: max}").reduction == "max"
    spiking = ["model.kwargs.readout=spiking", "train.objective=ce_temporal"]
    assert type(decoder(*spiking)) is FirstSpikeDecoder
    grouped = decoder(*spiking, "model.kwargs.population=4")
    assert type(grouped) is FirstSpikeDecoder and grouped.population == 4
    population = decoder(*spiking, "model.kwargs.population=4", "model.decoder=population")
    assert type(population) is PopulationDecoder
    assert (population.population, population.num_classes) == (4, 3)
    options = decoder("model.decoder=membrane", "model.decoder_options={reduction: max}")
    assert type(options) is MembraneDecoder and options.reduction == "max"
    # population read from analog membranes too: the summed membrane per class
    assert type(decoder("model.kwargs.population=2", "model.decoder=population")) is (
        PopulationDecoder
    )
    with pytest.raises(ValueError, match="decoder population needs a population: set model"):
        decoder("model.decoder=population")
    with pytest.raises(ValueError, match="decoder_options.population=2 but csnn_tiny has"):
        decoder(
            "model.kwargs.population=4",
            "model.decoder=population",
            "model.decoder_options={population: 2}",
        )
    with pytest.raises(ValueError, match="decoder rate reads one output per class"):
        decoder(*spiking, "model.kwargs.population=4", "model.decoder=rate")
    with pytest.raises(ValueError, match="model.decoder=rate does not take the options"):
        decoder(*spiking, "model.decoder=rate", "model.decoder_options={window: 2}")
    with pytest.raises(ValueError, match="unknown decoder 'phase'"):
        decoder("model.decoder=phase")


def test_a_population_encoder_sizes_the_model_from_the_encoded_shape():
    config = load_config(None, ["data.encoder=population", "data.encoder_options={population: 3}"])
    model = build_model(config, _Data((2, 8, 8)))
    assert next(m for m in model.modules() if isinstance(m, nn.Conv2d)).in_channels == 6
    encoded = build_encoder(config)(torch.rand(5, 2, 8, 8))
    assert model(encoded).shape == (4, 5, 3)
