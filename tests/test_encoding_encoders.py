"""Encoders: Poisson rates converge, latency is monotone with one spike, delta fires on change."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.encoding import (
    ENCODERS,
    DeltaEncoder,
    DirectEncoder,
    LatencyEncoder,
    PoissonEncoder,
    PopulationEncoder,
    delta,
    direct,
    latency,
    latency_times,
    poisson,
    population,
    population_responses,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------ direct


def test_direct_repeats_input_and_passes_gradient():
    x = torch.tensor([[0.2, -1.5], [3.0, 0.0]], dtype=torch.float64, requires_grad=True)
    out = direct(x, 3)
    assert out.shape == (3, 2, 2)
    for t in range(3):
        assert torch.equal(out[t], x.detach())
    out.sum().backward()
    # Each input is used at all 3 steps.
    assert torch.equal(x.grad, torch.full_like(x, 3.0))
    out2 = DirectEncoder(timesteps=3)(x.detach())
    out2[0, 0, 0] = 99.0  # a real copy: writing one step must not touch the others
    assert out2[1, 0, 0] == 0.2


# ----------------------------------------------------------------------------- poisson


def test_poisson_rate_converges_to_intensity():
    T = 4000
    p = torch.tensor([[0.05, 0.3, 0.5, 0.9]], dtype=torch.float64)
    spikes = poisson(p, T, generator=gen(0))
    assert spikes.shape == (T, 1, 4)
    assert spikes.dtype == torch.float64
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    rate = spikes.mean(0)
    sigma = torch.sqrt(p * (1 - p) / T)
    assert torch.all((rate - p).abs() < 3 * sigma), (rate, p)


def test_poisson_extremes_and_gain():
    T = 500
    x = torch.tensor([[0.0, 1.0, 1.0]], dtype=torch.float32)
    s = poisson(x, T, generator=gen(1))
    assert s.dtype == torch.float32
    assert s[:, 0, 0].sum() == 0  # p = 0 never fires
    assert s[:, 0, 1].sum() == T  # p = 1 always fires
    # gain scales the probability: x = 1 at gain 0.5 fires at rate 0.5 ...
    s = poisson(torch.ones(1, 1, dtype=torch.float64), 4000, gain=0.5, generator=gen(2))
    assert abs(float(s.mean()) - 0.5) < 3 * math.sqrt(0.25 / 4000)
    # ... and gain·x above 1 saturates at always firing.
    s = poisson(torch.full((1, 3), 0.6), 200, gain=2.0, generator=gen(3))
    assert torch.all(s == 1)


def test_poisson_signed_sign_and_rate():
    T = 4000
    x = torch.tensor([[-1.0, -0.4, 0.0, 0.4, 1.0]], dtype=torch.float64)
    s = poisson(x, T, signed=True, generator=gen(4))
    assert set(s.unique().tolist()) <= {-1.0, 0.0, 1.0}
    # Spikes carry the input's sign and never the opposite one.
    assert torch.all(s[:, :, :2] <= 0) and torch.all(s[:, :, 3:] >= 0)
    assert torch.all(s[:, 0, 0] == -1) and torch.all(s[:, 0, 4] == 1)
    assert torch.all(s[:, 0, 2] == 0)
    rate = s.abs().mean(0)[0]
    sigma = math.sqrt(0.4 * 0.6 / T)
    assert abs(float(rate[1]) - 0.4) < 3 * sigma
    assert abs(float(rate[3]) - 0.4) < 3 * sigma


def test_poisson_generator_reproducible():
    x = torch.full((4, 8), 0.5)
    a = poisson(x, 50, generator=gen(7))
    b = poisson(x, 50, generator=gen(7))
    c = poisson(x, 50, generator=gen(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    enc = ENCODERS.create("poisson", timesteps=50)
    assert torch.equal(enc(x, generator=gen(7)), a)


def test_poisson_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\[0.0, 1.0\].*signed=True"):
        poisson(torch.tensor([[-0.5, 0.5]]), 4)
    with pytest.raises(ValueError, match=r"1\.5"):
        poisson(torch.tensor([[1.5]]), 4)
    with pytest.raises(ValueError, match=r"signed=True"):
        poisson(torch.tensor([[-1.5]]), 4, signed=True)
    with pytest.raises(TypeError, match="floating-point"):
        poisson(torch.tensor([[1, 0]]), 4)
    with pytest.raises(ValueError, match="timesteps"):
        poisson(torch.tensor([[0.5]]), 0)
    with pytest.raises(TypeError, match="timesteps"):
        PoissonEncoder(timesteps=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gain"):
        PoissonEncoder(timesteps=4, gain=-1.0)


# ----------------------------------------------------------------------------- latency


def test_latency_linear_hand_computed():
    x = torch.tensor([[1.0, 0.5, 0.3, 0.1, 0.0]], dtype=torch.float64)
    # t = round((1 - x)·(T - 1)) with T = 5; x = 0 is at/below threshold → last step.
    assert latency_times(x, 5).tolist() == [[0, 2, 3, 4, 4]]
    assert latency_times(x, 5, clip=True).tolist() == [[0, 2, 3, 4, 5]]
    spikes = latency(x, 5)
    assert spikes.shape == (5, 1, 5)
    expected = torch.zeros(5, 1, 5, dtype=torch.float64)
    for i, t in enumerate([0, 2, 3, 4, 4]):
        expected[t, 0, i] = 1.0
    assert torch.equal(spikes, expected)
    clipped = latency(x, 5, clip=True)
    assert clipped[:, 0, 4].sum() == 0
    assert torch.equal(clipped[:, :, :4], expected[:, :, :4])


def test_latency_log_hand_computed():
    # Normalised: τ = (T-1)/ln((θ+ε)/ε) = 10/ln 5 with θ = 0.2, ε = 0.05, T = 11.
    x = torch.tensor([[1.0, 0.4, 0.25, 0.21, 0.2, 0.1]], dtype=torch.float64)
    tau = 10 / math.log(5)
    expected = [
        round(tau * math.log(1.0 / 0.8)),  # 1.39 → 1
        round(tau * math.log(0.4 / 0.2)),  # 4.31 → 4
        10,  # θ + ε lands on the last step
        10,  # 18.9 clipped to T - 1
        10,  # at threshold: never charges up, last step
        10,
    ]
    assert expected[:2] == [1, 4]
    got = latency_times(x, 11, mode="log", threshold=0.2, epsilon=0.05)
    assert got.tolist() == [expected]
    got = latency_times(x, 11, mode="log", threshold=0.2, epsilon=0.05, clip=True)
    assert got.tolist() == [[1, 4, 10, 10, 11, 11]]
    # Explicit τ = 2, θ = 0.5, T = 10: 2 ln 2 = 1.39, 2 ln 3 = 2.20, 2 ln 51 = 7.86, 2 ln 501 → 9.
    y = torch.tensor([[1.0, 0.75, 0.51, 0.501]], dtype=torch.float64)
    got = latency_times(y, 10, mode="log", threshold=0.5, tau=2.0)
    assert got.tolist() == [[1, 2, 8, 9]]


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=20),
    T=st.integers(1, 40),
    mode=st.sampled_from(["linear", "log"]),
    clip=st.booleans(),
    threshold=st.floats(0.01, 0.5),
)
def test_latency_monotone_and_single_spike(values, T, mode, clip, threshold):
    x = torch.tensor(sorted(values), dtype=torch.float32).unsqueeze(0)  # ascending intensity
    times = latency_times(x, T, mode=mode, threshold=threshold, clip=clip)[0]
    # Brighter never fires later (silent counts as T).
    assert torch.all(times[1:] <= times[:-1]), (x, times)
    spikes = latency(x, T, mode=mode, threshold=threshold, clip=clip)
    counts = spikes.sum(0)[0]
    # The encoder compares in float64, so the test must too (x is float32).
    below = x[0].double() <= threshold
    if clip:
        assert torch.all(counts[below] == 0) and torch.all(counts[~below] == 1)
    else:
        assert torch.all(counts == 1)
        assert torch.all(times[below] == T - 1)
    fired = counts == 1
    assert torch.equal(spikes.argmax(0)[0][fired], times[fired])


def test_latency_encoder_module_and_errors():
    enc = LatencyEncoder(timesteps=5)
    x = torch.tensor([[1.0, 0.5]])
    assert torch.equal(enc(x), latency(x, 5))
    with pytest.raises(ValueError, match=r"mode must be one of"):
        LatencyEncoder(timesteps=5, mode="exp")
    with pytest.raises(ValueError, match=r"\[0.0, 1.0\]"):
        latency(torch.tensor([[1.2]]), 5)
    with pytest.raises(ValueError, match="threshold"):
        latency(torch.tensor([[0.5]]), 5, mode="log", threshold=0.0)


# ------------------------------------------------------------------------------- delta


def test_delta_hand_computed():
    x = torch.tensor([0.0, 0.5, 0.55, 0.2, 0.2, 1.0], dtype=torch.float64).view(6, 1, 1)
    on = delta(x, threshold=0.1)
    # changes: 0, 0.5, 0.05, -0.35, 0, 0.8
    assert on.flatten().tolist() == [0, 1, 0, 0, 0, 1]
    both = delta(x, threshold=0.1, off_spike=True)
    assert both.flatten().tolist() == [0, 1, 0, -1, 0, 1]
    # A change exactly at threshold does not fire (strict >).
    y = torch.tensor([0.0, 0.5, 1.5]).view(3, 1, 1)
    assert delta(y, threshold=0.5).flatten().tolist() == [0, 0, 1]


def test_delta_padding_and_module():
    x = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64).view(3, 1, 1)
    # Without padding step 0 is compared with zero, so a large first value fires.
    assert delta(x, 0.1, off_spike=True).flatten().tolist() == [1, 0, -1]
    assert delta(x, 0.1, off_spike=True, padding=True).flatten().tolist() == [0, 0, -1]
    enc = ENCODERS.create("delta", timesteps=3, threshold=0.1, off_spike=True, padding=True)
    assert isinstance(enc, DeltaEncoder)
    assert torch.equal(enc(x), delta(x, 0.1, True, True))
    with pytest.raises(ValueError, match=r"T=3"):
        enc(torch.zeros(4, 1, 1))
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        delta(torch.zeros(3))


# -------------------------------------------------------------------------- registries


def test_encoder_registry_names_and_unknown():
    assert ENCODERS.names() == ["delta", "direct", "latency", "poisson", "population"]
    for name in ENCODERS.names():
        enc = ENCODERS.create(name, timesteps=4)
        out = enc(torch.full((2, 3), 0.5) if name != "delta" else torch.zeros(4, 2, 3))
        assert out.shape == ((4, 2, 3 * 8) if name == "population" else (4, 2, 3))
    with pytest.raises(ValueError, match="direct, latency, poisson"):
        ENCODERS.get("rank_order")


# -------------------------------------------------------------------------- population


def test_population_responses_hand_computed():
    # P = 3 fields over [0, 1]: centres 0, 0.5, 1 and sigma = 1 / (1.5 * 2) = 1/3.
    r = population_responses(torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64), 3)
    far, near = math.exp(-1.0 / (2 / 9)), math.exp(-0.25 / (2 / 9))
    expected = [[1.0, near, far], [near, 1.0, near], [far, near, 1.0]]
    torch.testing.assert_close(r, torch.tensor(expected, dtype=torch.float64))
    # A given width and range; P = 1 is one field in the middle of the range.
    r = population_responses(torch.tensor([[2.0]]), 2, low=0.0, high=4.0, width=2.0)
    torch.testing.assert_close(r, torch.full((1, 2), math.exp(-0.5)))
    torch.testing.assert_close(population_responses(torch.tensor([[0.5]]), 1), torch.ones(1, 1))


def test_population_folds_the_fields_into_the_first_sample_axis():
    x = torch.rand(2, 3, 4, 5, generator=gen(0))  # [B, C, H, W]
    r = population_responses(x, 4)
    assert r.shape == (2, 12, 4, 5)
    for c in range(3):  # field p of channel c sits at c·P + p
        for p in range(4):
            alone = population_responses(x[:, c : c + 1], 4)[:, p]
            assert torch.equal(r[:, c * 4 + p], alone)
    enc = PopulationEncoder(timesteps=6, population=4)
    assert enc(x).shape == (6, 2, 12, 4, 5)
    assert enc.encoded_shape((3, 4, 5)) == (12, 4, 5)
    assert enc.encoded_shape(()) == (4,)
    assert population(torch.rand(5), 3, 4).shape == (3, 5, 4)  # scalars [B] -> [T, B, P]


def test_population_latency_fires_once_earlier_for_stronger_responses():
    x = torch.linspace(0, 1, 11).unsqueeze(1)  # [B=11, 1]
    T = 8
    spikes = population(x, T, population=5)  # default mode: latency, threshold 0.1
    r = population_responses(x, 5)
    assert spikes.shape == (T, 11, 5)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    counts = spikes.sum(0)
    assert torch.equal(counts, (r > 0.1).to(counts.dtype))  # weak fields stay silent
    fired = counts > 0
    times = spikes.argmax(0)
    assert torch.equal(times[fired], torch.round((1 - r[fired]) * (T - 1)).to(times.dtype))
    # The field centred on the input fires at step 0.
    assert spikes[0, 0, 0] == 1 and spikes[0, 10, 4] == 1 and spikes[0, 5, 2] == 1


def test_population_rate_and_direct_modes():
    x = torch.full((4000, 1), 0.3)
    r = population_responses(x[:1], 4)[0]
    spikes = population(x, 2, 4, mode="rate", generator=gen(5))
    torch.testing.assert_close(spikes.mean((0, 1)), r, atol=0.02, rtol=0)
    again = population(x, 2, 4, mode="rate", generator=gen(5))
    assert torch.equal(spikes, again)
    x = torch.rand(3, 2, generator=gen(1), requires_grad=True)
    out = population(x, 3, 4, mode="direct")
    assert torch.equal(out[2], population_responses(x, 4))
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_population_input_checks():
    with pytest.raises(ValueError, match=r"must lie in \[0.0, 1.0\].*set low/high"):
        population(torch.tensor([[2.0]]), 4)
    population(torch.tensor([[200.0]]), 4, high=255.0)  # the range is the data's
    with pytest.raises(ValueError, match="population must be >= 1"):
        PopulationEncoder(4, population=0)
    with pytest.raises(ValueError, match="low < high"):
        PopulationEncoder(4, low=1.0, high=1.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        PopulationEncoder(4, mode="phase")
    with pytest.raises(ValueError, match="threshold"):
        PopulationEncoder(4, threshold=1.0)
    with pytest.raises(ValueError, match="width"):
        population_responses(torch.zeros(1, 1), 4, width=0.0)
