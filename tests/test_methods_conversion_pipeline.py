import operator
import re
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeforge.data import load_dataset
from spikeforge.methods.conversion import (
    ConvertedIF,
    ConvertedSNN,
    SpikingMaxPool,
    UnsupportedOperationError,
    calibrate,
    convert,
)
from spikeforge.models import create


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: a second intra-op thread only adds contention on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _digits(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_dataset("digits", split)
    x = torch.stack([data[i][0] for i in range(len(data))])
    return x, torch.as_tensor([data[i][1] for i in range(len(data))])


@pytest.fixture(scope="module")
def trained_digits_ann() -> nn.Module:
    """ann_csnn_tiny trained on digits for a few seconds (fixed seed)."""
    torch.manual_seed(0)
    x, y = _digits("train")
    ann = create("ann_csnn_tiny", widths=(8, 16))
    optimizer = torch.optim.Adam(ann.parameters(), lr=1e-2)
    for _ in range(4):
        for idx in torch.randperm(len(x)).split(64):
            optimizer.zero_grad()
            F.cross_entropy(ann(x[idx]), y[idx]).backward()
            optimizer.step()
    return ann.eval()


def _accuracy(scores: torch.Tensor, y: torch.Tensor) -> float:
    return float((scores.argmax(-1) == y).float().mean())


def test_converted_network_maps_sequences_and_equals_the_ann_in_analog_mode(generator):
    ann = create("ann_vgg_small", in_channels=1).eval()
    x = torch.rand(5, 1, 8, 8, generator=generator)
    snn = convert(ann, x, "max")
    assert isinstance(snn, ConvertedSNN) and not snn.training
    assert snn(x.expand(3, *x.shape)).shape == (3, 5, 10)
    torch.testing.assert_close(snn.analog(x), ann(x), rtol=1e-5, atol=1e-5)
    assert snn.membrane(x.expand(3, *x.shape)).shape == (3, 5, 10)
    with pytest.raises(ValueError, match=r"must be \[T, B, \.\.\.\] with 5 dims"):
        snn(x)  # [B, C, H, W] is not a sequence of images


def test_rate_times_threshold_approaches_the_relu_activation_per_layer(trained_digits_ann):
    x, _ = _digits("test")
    x = x[:64]
    snn = convert(trained_digits_ann, x, "max")
    analog: dict[str, torch.Tensor] = {}
    spiking: dict[str, torch.Tensor] = {}

    def recorder(store, name):
        return lambda module, inputs, output: store.__setitem__(name, output.detach())

    hooks = [m.register_forward_hook(recorder(analog, n)) for n, m in snn.neurons().items()]
    snn.analog(x)
    for h in hooks:
        h.remove()
    errors = {}
    for steps in (16, 256):
        hooks = [m.register_forward_hook(recorder(spiking, n)) for n, m in snn.neurons().items()]
        snn(x.expand(steps, *x.shape))
        for h in hooks:
            h.remove()
        for name, activation in analog.items():
            rate_times_vth = spiking[name].unflatten(0, (steps, -1)).mean(0)  # rate · λ
            error = (rate_times_vth - activation).abs().mean() / activation.abs().mean()
            errors[name, steps] = float(error)
    for name in analog:
        assert errors[name, 256] < errors[name, 16], errors
        assert errors[name, 256] < 0.05, errors


def test_accuracy_approaches_the_ann_as_timesteps_grow(trained_digits_ann):
    x, y = _digits("test")
    ann_acc = _accuracy(trained_digits_ann(x), y)
    assert ann_acc > 0.9
    snn = convert(trained_digits_ann, _digits("train")[0][:512], "percentile", percentile=99.9)
    out = snn(x.expand(64, *x.shape))
    accuracy = {t: _accuracy(out[:t].mean(0), y) for t in (2, 8, 64)}
    gaps = {t: abs(ann_acc - a) for t, a in accuracy.items()}
    assert gaps[64] <= 0.01, (ann_acc, accuracy)
    assert gaps[64] <= gaps[8] <= gaps[2] + 1e-9 or gaps[2] > gaps[64], (ann_acc, accuracy)


class Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.act = nn.Sigmoid()
        self.norm = nn.BatchNorm2d(4)
        self.ln = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.conv(x))
        h = self.norm(torch.tanh(h))
        h = F.relu(h) * h
        return self.fc(self.ln(h.mean((2, 3))))


def test_unsupported_operations_are_all_named_in_one_error():
    with pytest.raises(UnsupportedOperationError) as info:
        convert(Mixed(), torch.rand(2, 1, 5, 5))
    message = str(info.value)
    problems = info.value.problems
    assert len(problems) == 5, problems
    for expected in (
        "Sigmoid at act",
        "torch.tanh",
        "BatchNorm2d at norm",
        "mul",
        "LayerNorm at ln",
    ):
        assert expected in message
    assert Path(__file__).name in message  # functional calls carry their line
    assert "5 unsupported operation(s)" in message


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(6, 8), nn.Linear(8, 8), nn.Linear(8, 3)
        self.shared = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.a(x))
        h = torch.relu(self.b(h)) + self.shared(h)
        h = self.shared(h).relu()
        return self.c(h * 0.5)


def test_functional_and_repeated_relus_each_become_a_neuron(generator):
    ann = Functional().eval()
    x = torch.rand(16, 6, generator=generator)
    snn = convert(ann, x, "max")
    assert len(snn.neurons()) == 5  # F.relu, torch.relu, shared ReLU twice, .relu()
    torch.testing.assert_close(snn.analog(x), ann(x))
    out = snn(x.expand(256, *x.shape)).mean(0)
    assert (out - ann(x)).abs().max() < 0.1 * ann(x).abs().max()


def test_max_pool_becomes_average_pool_with_a_warning(generator):
    ann = create("ann_csnn_tiny", pool="max").eval()
    x = torch.rand(8, 1, 8, 8, generator=generator)
    with pytest.warns(UserWarning, match="max-pooling converted to average pooling at layers.6"):
        snn = convert(ann, x)
    assert isinstance(snn.body.get_submodule("layers.6"), nn.AvgPool2d)
    with pytest.raises(UnsupportedOperationError, match="MaxPool2d at layers.6"):
        convert(ann, x, maxpool="error")
    with pytest.raises(ValueError, match="maxpool must be one of"):
        convert(ann, x, maxpool="min")


def test_spiking_max_pool_tracks_the_ann_max_pool(generator):
    ann = create("ann_csnn_tiny", pool="max").eval()
    x = torch.rand(16, 1, 8, 8, generator=generator)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        snn = convert(ann, x, "max", maxpool="spiking")
    assert isinstance(snn.body.get_submodule("layers.6"), SpikingMaxPool)
    torch.testing.assert_close(snn.analog(x), ann(x))
    with torch.no_grad():
        error = {
            t: float((snn(x.expand(t, *x.shape)).mean(0) - ann(x)).abs().mean()) for t in (8, 256)
        }
        with pytest.warns(UserWarning, match="average pooling"):
            avg = convert(ann, x, "max")  # the default: substitute an average pool
        avg_error = float((avg(x.expand(256, *x.shape)).mean(0) - ann(x)).abs().mean())
    assert error[256] < error[8]
    assert error[256] < 0.5 * avg_error, (error, avg_error)


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.head = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:  # data-dependent control flow: fx cannot trace it
            raise ValueError("expected [B, C, H, W]")
        return self.head(self.features(x).flatten(1))


def test_untraceable_models_are_converted_by_module_walk(generator):
    ann = Untraceable().eval()
    ann.features[1].running_mean.uniform_(-0.3, 0.3, generator=generator)
    x = torch.rand(8, 1, 8, 8, generator=generator)
    with pytest.warns(UserWarning, match="cannot be traced"):
        snn = convert(ann, x, "max")
    assert snn.info["tracing"] == "module walk" and snn.info["folded_batch_norms"] == 1
    torch.testing.assert_close(snn.analog(x), ann(x), rtol=1e-5, atol=1e-5)
    error = (snn(x.expand(256, *x.shape)).mean(0) - ann(x)).abs().max()
    assert error < 0.05 * ann(x).abs().max()


def test_the_ann_is_left_unchanged(generator):
    ann = create("ann_csnn_tiny")
    ann.train()
    ann.layers[1].training = False
    flags = [m.training for m in ann.modules()]
    state = {k: v.clone() for k, v in ann.state_dict().items()}
    snn = convert(ann, torch.rand(8, 1, 8, 8, generator=generator))
    assert [m.training for m in ann.modules()] == flags
    for key, value in ann.state_dict().items():
        assert torch.equal(value, state[key])
    assert not any(p is q for p in snn.parameters() for q in ann.parameters())


def test_learnable_thresholds_and_streaming_state(generator):
    ann = create("ann_csnn_tiny").eval()
    x = torch.rand(4, 1, 8, 8, generator=generator)
    snn = convert(ann, x, learn_threshold=True)
    names = {n for n, _ in snn.named_parameters()}
    assert {"body.layers.2.scale", "body.layers.5.scale"} <= names
    seq = torch.rand(12, 4, 1, 8, 8, generator=generator)
    whole = snn(seq)
    first, state = snn.run(seq[:5])
    second, _ = snn.run(seq[5:], state)
    torch.testing.assert_close(torch.cat([first, second]), whole)
    out = snn(seq[:4]).mean(0).sum()
    out.backward()
    assert snn.body.get_submodule("layers.2").scale.grad is not None


def test_a_network_without_relu_is_refused():
    with pytest.raises(ValueError, match="no ReLU"):
        convert(nn.Sequential(nn.Linear(3, 2)), torch.rand(2, 3))
    assert operator.add  # (the graph path treats + as linear)
    assert ConvertedIF


def test_calibrate_sets_thresholds_per_site_and_restores_training_flags(generator):
    ann = create("ann_csnn_tiny").eval()
    x = torch.rand(32, 1, 8, 8, generator=generator)
    snn = convert(ann, None)
    snn.train()
    snn.body.get_submodule("layers.2").training = False  # a mixed pattern must come back as it was
    flags = {name: m.training for name, m in snn.named_modules()}
    scales = calibrate(snn, x, "max", batch_size=8)
    assert {name: m.training for name, m in snn.named_modules()} == flags
    acts = {}
    hooks = [
        m.register_forward_hook(lambda mod, i, o, n=n: acts.setdefault(n, o))
        for n, m in snn.neurons().items()
    ]
    snn.analog(x)
    for h in hooks:
        h.remove()
    for name, scale in scales.items():
        torch.testing.assert_close(scale, acts[name].max())
        torch.testing.assert_close(snn.neurons()[name].scale, scale)
    per_channel = calibrate(snn, [(x[:16], None), (x[16:], None)], "max", per_channel=True)
    assert all(
        s.shape == (n.scale.shape[0],)
        for s, n in zip(per_channel.values(), snn.neurons().values(), strict=True)
    )
    with pytest.raises(ValueError, match="calibration data is empty"):
        calibrate(snn, torch.zeros(0, 1, 8, 8), "max")


@pytest.mark.parametrize("recipe", ["max", "percentile"])
def test_non_finite_calibration_inputs_are_refused_naming_the_batch(recipe, generator):
    ann = create("ann_csnn_tiny").eval()
    x = torch.rand(20, 1, 8, 8, generator=generator)
    x[13, 0, 2, 3] = float("nan")  # batch 1 of 8-sample batches, its sample 5
    with pytest.raises(
        ValueError,
        match=r"calibration input batch 1 \(samples 8\.\.15\) contains NaN at index \[5, 0, 2, 3\]",
    ):
        calibrate(convert(ann, None), x, recipe, batch_size=8)
    with pytest.raises(ValueError, match="calibration input batch 0"):
        convert(ann, [(x[8:16], None)], recipe)


def test_non_finite_activations_are_refused_naming_the_layer(generator):
    ann = create("ann_csnn_tiny").eval()
    snn = convert(ann, None)
    first = next(iter(snn.neurons()))
    weight = next(p for n, p in snn.body.named_parameters() if n.endswith("weight"))
    with torch.no_grad():
        weight[0].fill_(float("inf"))  # as a diverged checkpoint would have it
    x = torch.rand(8, 1, 8, 8, generator=generator)
    with pytest.raises(
        ValueError, match=rf"ReLU activation at neuron site '{re.escape(first)}' contains"
    ):
        calibrate(snn, x, "max")
    assert all(bool(n.scale == 1.0) for n in snn.neurons().values())  # left as they were
