"""Objectives: hand computations, argmin at the intended output, gradients, input checks."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from spikeforge.encoding import (
    READOUT_KINDS,
    FirstSpikeDecoder,
    MembraneDecoder,
    PopulationDecoder,
    RateDecoder,
    first_spike_decode,
)
from spikeforge.losses import (
    OBJECTIVES,
    CEMembrane,
    CEPerStep,
    CERate,
    CETemporal,
    MSECount,
    MSEMembrane,
    MSETemporal,
    first_spike_time,
)

f64 = torch.float64


def count_spikes(counts: list[list[int]], T: int) -> torch.Tensor:
    """Spikes ``[T, B, C]`` with the given counts per (b, c), fired from step 0 on."""
    c = torch.tensor(counts, dtype=f64)
    return (torch.arange(T).view(T, 1, 1) < c.unsqueeze(0)).to(f64)


def first_spikes(times: list[list[int]], T: int) -> torch.Tensor:
    """Spikes ``[T, B, C]`` with one spike at each given step (step T = silent)."""
    t = torch.tensor(times)
    return (torch.arange(T).view(T, 1, 1) == t.unsqueeze(0)).to(f64)


def targets(*idx: int) -> torch.Tensor:
    return torch.tensor(idx, dtype=torch.int64)


# ---------------------------------------------------------------------- hand-computed


def test_ce_rate_hand_computed():
    spikes = count_spikes([[2, 1], [0, 3]], T=3)
    # b0: logits [2, 1], target 0 → log(1 + e^-1); b1: logits [0, 3], target 0 → log(1 + e^3).
    expected = (math.log1p(math.exp(-1)) + math.log1p(math.exp(3))) / 2
    assert CERate()(spikes, targets(0, 0)).item() == pytest.approx(expected)


def test_ce_rate_population_sums_groups():
    # 2 classes × 2 neurons; group counts [1 + 2, 0 + 1] = [3, 1].
    spikes = count_spikes([[1, 2, 0, 1]], T=2)
    expected = math.log1p(math.exp(-2))
    assert CERate(population=2)(spikes, targets(0)).item() == pytest.approx(expected)


def test_mse_count_hand_computed():
    spikes = count_spikes([[3, 1, 0]], T=4)
    loss = MSECount(correct_rate=0.75, incorrect_rate=0.25)(spikes, targets(0))
    # target counts [3, 1, 1] → ((0)² + (0)² + (1)²) / 3
    assert loss.item() == pytest.approx(1 / 3)
    # population 2: group counts [4, 1] vs targets [0.75·4·2, 0.25·4·2] = [6, 2].
    spikes = count_spikes([[3, 1, 0, 1]], T=4)
    loss = MSECount(correct_rate=0.75, incorrect_rate=0.25, population=2)(spikes, targets(0))
    assert loss.item() == pytest.approx(((4 - 6) ** 2 + (1 - 2) ** 2) / 2)


def test_ce_membrane_hand_computed():
    mem = torch.tensor([[[1.0, 0.0]], [[3.0, 4.0]], [[-1.0, -1.0]]], dtype=f64)
    # mean over time: [1, 1] → log 2; max over time: [3, 4], target 0 → log(1 + e).
    assert CEMembrane()(mem, targets(0)).item() == pytest.approx(math.log(2))
    assert CEMembrane("max")(mem, targets(0)).item() == pytest.approx(math.log1p(math.e))
    # population 2: [T=1, B=1, 4] means per group [1, 3], target 1 → log(1 + e^-2).
    mem = torch.tensor([[[0.0, 2.0, 2.0, 4.0]]], dtype=f64)
    loss = CEMembrane(population=2)(mem, targets(1))
    assert loss.item() == pytest.approx(math.log1p(math.exp(-2)))


def test_ce_per_step_is_the_mean_of_each_steps_cross_entropy():
    mem = torch.tensor([[[1.0, 0.0]], [[3.0, 4.0]], [[-1.0, -1.0]]], dtype=f64)
    # steps: CE([1, 0], 0) = log(1 + e^-1), CE([3, 4], 0) = log(1 + e), CE([-1, -1]) = log 2
    expected = (math.log1p(math.exp(-1)) + math.log1p(math.e) + math.log(2)) / 3
    assert CEPerStep()(mem, targets(0)).item() == pytest.approx(expected)
    assert CEMembrane("per_step")(mem, targets(0)).item() == pytest.approx(expected)
    # one step: the same as the mean over time
    assert CEPerStep()(mem[1:2], targets(0)).item() == pytest.approx(math.log1p(math.e))
    mem = torch.tensor([[[0.0, 2.0, 2.0, 4.0]], [[0.0, 0.0, 0.0, 0.0]]], dtype=f64)
    loss = CEPerStep(population=2)(mem, targets(1))  # group means [1, 3] then [0, 0]
    assert loss.item() == pytest.approx((math.log1p(math.exp(-2)) + math.log(2)) / 2)


def test_first_spike_time_matches_decoder_and_hand_gradient():
    gen = torch.Generator().manual_seed(0)
    s = (torch.rand(6, 4, 5, generator=gen) < 0.2).to(f64)
    assert torch.equal(first_spike_time(s), first_spike_decode(s))
    # Gradient of Σ_t ∏_{k<=t}(1 - S[k]) for S = [0, 0, 1, 0, 1] (first spike at t* = 2):
    # S[k<t*] → -(t* - k); S[t*] → -(next spike - t*) = -2; later steps → 0.
    x = torch.tensor([0.0, 0.0, 1.0, 0.0, 1.0], dtype=f64).view(5, 1, 1).requires_grad_(True)
    t = first_spike_time(x)
    assert t.item() == 2.0
    t.sum().backward()
    assert x.grad.flatten().tolist() == [-2.0, -1.0, -2.0, 0.0, 0.0]
    # A silent neuron: every step lowers the time by T - k.
    z = torch.zeros(3, 1, 1, dtype=f64, requires_grad=True)
    first_spike_time(z).sum().backward()
    assert z.grad.flatten().tolist() == [-3.0, -2.0, -1.0]


def test_first_spike_time_population_is_earliest_member():
    s = first_spikes([[3, 1, 4, 4]], T=4)  # group 0: steps 3, 1; group 1: silent
    assert first_spike_time(s, population=2).tolist() == [[1.0, 4.0]]


def test_ce_temporal_hand_computed():
    # T = 3: class 0 first fires at 1, class 1 silent (= 3) → logits [-1, -3].
    spikes = first_spikes([[1, 3]], T=3)
    spikes[2, 0, 0] = 1.0  # later spikes do not change the first-spike time
    assert CETemporal()(spikes, targets(0)).item() == pytest.approx(math.log1p(math.exp(-2)))
    assert CETemporal()(spikes, targets(1)).item() == pytest.approx(math.log1p(math.exp(2)))


def test_mse_temporal_hand_computed():
    spikes = first_spikes([[1, 3, 0]], T=4)
    # targets: class 2 at step 0, others at T = 4 → ((1-4)² + (3-4)² + 0²) / 3
    assert MSETemporal()(spikes, targets(2)).item() == pytest.approx(10 / 3)
    # off_target = 3, on_target = 1 for class 0 → (0² + 0² + 3²) / 3
    loss = MSETemporal(on_target=1, off_target=3)(spikes, targets(0))
    assert loss.item() == pytest.approx(3.0)


# ----------------------------------------------------------------------------- argmin


def test_mse_count_zero_exactly_at_target_counts():
    T = 10
    loss_fn = MSECount(correct_rate=0.8, incorrect_rate=0.2)
    best = count_spikes([[2, 8, 2]], T)
    assert loss_fn(best, targets(1)).item() == 0.0
    for wrong in ([[3, 8, 2]], [[2, 7, 2]], [[2, 9, 2]], [[2, 8, 0]], [[8, 2, 2]]):
        assert loss_fn(count_spikes(wrong, T), targets(1)).item() > 0.0
    # Brute force over all count vectors: the unique minimiser is the target.
    grid = torch.cartesian_prod(*[torch.arange(T + 1)] * 2)
    losses = [loss_fn(count_spikes([[int(a), int(b)]], T), targets(0)).item() for a, b in grid]
    best_idx = min(range(len(losses)), key=losses.__getitem__)
    assert grid[best_idx].tolist() == [8, 2]
    assert sorted(losses)[1] > 0.0


def test_mse_temporal_zero_exactly_at_target_times():
    T = 6
    loss_fn = MSETemporal(on_target=1, off_target=4)
    best = first_spikes([[4, 1, 4]], T)
    assert loss_fn(best, targets(1)).item() == 0.0
    for wrong in ([[4, 0, 4]], [[4, 2, 4]], [[1, 4, 4]], [[4, 1, 6]]):
        assert loss_fn(first_spikes(wrong, T), targets(1)).item() > 0.0
    # Default off_target: other classes should stay silent.
    assert MSETemporal()(first_spikes([[0, 6]], T), targets(0)).item() == 0.0


def test_ce_membrane_decreases_as_correct_membrane_grows():
    for reduction in ("mean", "max"):
        losses = []
        for v in torch.linspace(-3, 3, 13):
            mem = torch.zeros(4, 1, 3, dtype=f64)
            mem[:, 0, 1] = v
            losses.append(CEMembrane(reduction)(mem, targets(1)).item())
        assert all(a > b for a, b in itertools.pairwise(losses))


def test_ce_rate_and_temporal_prefer_the_target_class():
    T = 5
    rate_fn, time_fn = CERate(), CETemporal()
    # More spikes for the target class → lower rate loss.
    losses = [rate_fn(count_spikes([[2, n]], T), targets(1)).item() for n in range(T + 1)]
    assert all(a > b for a, b in itertools.pairwise(losses))
    # An earlier first spike for the target class → lower temporal loss.
    losses = [time_fn(first_spikes([[2, t]], T), targets(1)).item() for t in range(T + 1)]
    assert all(a < b for a, b in itertools.pairwise(losses))


# -------------------------------------------------------------------------- gradients


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("ce_rate", {}),
        ("mse_count", {}),
        ("ce_membrane", {"reduction": "mean"}),
        ("ce_membrane", {"reduction": "max"}),
        ("ce_per_step", {}),
        ("ce_temporal", {}),
        ("mse_temporal", {}),
        ("mse_membrane", {}),
        ("mse_membrane", {"population": 2}),
        ("ce_rate", {"population": 2}),
        ("mse_count", {"population": 2}),
        ("ce_membrane", {"population": 2}),
        ("ce_temporal", {"population": 2}),
        ("mse_temporal", {"population": 2}),
    ],
)
def test_gradients_reach_the_input(name, kwargs):
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(6, 3, 4, generator=gen) < 0.3).to(f64)
    if name in ("ce_membrane", "ce_per_step", "mse_membrane"):
        x = torch.randn(6, 3, 4, generator=gen, dtype=f64)
    x.requires_grad_(True)
    C = 4 // kwargs.get("population", 1)
    loss = OBJECTIVES.create(name, **kwargs)(x, targets(0, C - 1, 1))
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert x.grad is not None
    assert torch.all(torch.isfinite(x.grad))
    assert x.grad.abs().sum() > 0


def test_ce_temporal_gradient_pulls_target_spike_earlier():
    # Target class 0 first fires at t=3 of T=4; class 1 at t=1. Descending the loss
    # should raise the target's spikes before t=3 and lower the rival's time-setting spike.
    x = first_spikes([[3, 1]], T=4).requires_grad_(True)
    CETemporal()(x, targets(0)).backward()
    assert torch.all(x.grad[:3, 0, 0] < 0)
    assert x.grad[1, 0, 1] > 0


# ----------------------------------------------------------------------- input checks


def test_objective_input_checks():
    spikes = torch.zeros(5, 2, 3)
    loss = CERate()
    with pytest.raises(ValueError, match=r"\[T, B, N\].*got shape \(2, 3\)"):
        loss(torch.zeros(2, 3), targets(0, 1))
    with pytest.raises(TypeError, match=r"torch\.int64, got torch\.float32"):
        loss(spikes, torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match=r"torch\.int64, got torch\.int32"):
        loss(spikes, torch.tensor([0, 1], dtype=torch.int32))
    with pytest.raises(ValueError, match=r"shape \[B\] = \[2\].*one-hot"):
        loss(spikes, torch.zeros(2, 3, dtype=torch.int64))
    # [B, T, N] instead of [T, B, N]: batch size 2 sits in dim 0.
    with pytest.raises(
        ValueError, match=r"batch size 2 .* batch size 5 — did you pass \[B, T, N\]"
    ):
        loss(torch.zeros(2, 5, 3), targets(0, 1))
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\].*\[0, 3\]"):
        loss(spikes, targets(0, 3))
    with pytest.raises(ValueError, match=r"num_classes=4 but spikes .* has 3 classes"):
        CERate(num_classes=4)(spikes, targets(0, 1))
    with pytest.raises(ValueError, match="not a multiple of population=2"):
        CETemporal(population=2)(spikes, targets(0, 1))
    with pytest.raises(ValueError, match="incorrect_rate"):
        MSECount(correct_rate=0.2, incorrect_rate=0.5)
    with pytest.raises(ValueError, match="correct_rate must lie in"):
        MSECount(correct_rate=1.5)
    with pytest.raises(ValueError, match="reduction must be one of"):
        CEMembrane("sum")
    with pytest.raises(ValueError, match="on_target=9 lies beyond the T=5"):
        MSETemporal(on_target=9)(spikes, targets(0, 1))
    with pytest.raises(ValueError, match="population"):
        CERate(population=0)


def test_objective_registry():
    assert OBJECTIVES.names() == [
        "ce_membrane",
        "ce_per_step",
        "ce_rate",
        "ce_temporal",
        "mse_count",
        "mse_membrane",
        "mse_temporal",
        "trevsnn",  # losses/trevsnn.py
    ]
    assert isinstance(OBJECTIVES.create("mse_count", correct_rate=1.0), MSECount)
    with pytest.raises(ValueError, match="ce_membrane, ce_per_step, ce_rate, ce_temporal"):
        OBJECTIVES.get("nll_rate")


def test_ce_membrane_label_smoothing_matches_torch():
    import torch.nn.functional as F

    from spikeforge.losses import CEMembrane

    mem = torch.randn(3, 4, 5, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 4])
    expected = F.cross_entropy(mem.mean(0), y, label_smoothing=0.2)
    torch.testing.assert_close(CEMembrane(label_smoothing=0.2)(mem, y), expected)
    with pytest.raises(ValueError, match="label_smoothing"):
        CEMembrane(label_smoothing=1.0)


# ---------------------------------------------------------------------- mse_membrane


def test_mse_membrane_hand_computed_against_snntorch_targets():
    # T=2, B=1, C=3, target class 1: targets [0, 1, 0] at every step (on=1, off=0).
    mem = torch.tensor([[[0.5, 1.0, -1.0]], [[0.0, 0.0, 0.0]]], dtype=f64)
    expected = ((0.25 + 0 + 1) + (0 + 1 + 0)) / 6  # mean over steps, samples, neurons
    torch.testing.assert_close(MSEMembrane()(mem, targets(1)), torch.tensor(expected, dtype=f64))
    # snnTorch's form: the sum over steps of each step's MSE, divided by T.
    on = torch.tensor([[0.0, 1.0, 0.0]], dtype=f64)
    snn = sum(torch.nn.functional.mse_loss(mem[t], on) for t in range(2)) / 2
    torch.testing.assert_close(MSEMembrane()(mem, targets(1)), snn)
    loss = MSEMembrane(on_target=2.0, off_target=-1.0)
    assert loss.target_membrane(targets(0), 3, mem).tolist() == [[2.0, -1.0, -1.0]]


def test_mse_membrane_is_zero_exactly_on_target_and_groups_a_population():
    loss = MSEMembrane(on_target=1.5, off_target=0.25, population=2)
    target = loss.target_membrane(targets(1, 0), 2, torch.zeros(1, dtype=f64))
    assert target.tolist() == [[0.25, 0.25, 1.5, 1.5], [1.5, 1.5, 0.25, 0.25]]
    mem = target.unsqueeze(0).repeat(3, 1, 1)
    assert loss(mem, targets(1, 0)).item() == 0.0
    assert loss(mem + 0.1, targets(1, 0)).item() > 0.0
    with pytest.raises(ValueError, match="off_target .* must be below on_target"):
        MSEMembrane(on_target=0.0, off_target=1.0)
    with pytest.raises(ValueError, match="finite"):
        MSEMembrane(on_target=math.inf)


# -------------------------------------------------------- readout kinds and decoders


def test_each_objective_says_which_readout_it_reads():
    spiking = {"ce_rate", "ce_temporal", "mse_count", "mse_temporal"}
    for name in OBJECTIVES.names():
        accepts = OBJECTIVES.get(name).accepts
        assert set(accepts) <= set(READOUT_KINDS)
        assert accepts == (("spikes",) if name in spiking else ("membrane", "analog")), name


def test_each_objective_decodes_by_its_own_code():
    assert type(CERate().readout_decoder()) is RateDecoder
    assert type(MSECount().readout_decoder()) is RateDecoder
    grouped = CERate(population=3, num_classes=4).readout_decoder()
    assert type(grouped) is PopulationDecoder
    assert (grouped.population, grouped.num_classes) == (3, 4)
    for objective in (CETemporal(population=2), MSETemporal(population=2)):
        decoder = objective.readout_decoder()
        assert type(decoder) is FirstSpikeDecoder and decoder.population == 2
    for objective, reduction in (
        (CEMembrane(), "mean"),
        (CEMembrane("max"), "max"),
        (CEPerStep(), "mean"),
        (MSEMembrane(population=2), "mean"),
    ):
        decoder = objective.readout_decoder()
        assert type(decoder) is MembraneDecoder and decoder.reduction == reduction
    assert MSEMembrane(population=2).readout_decoder().population == 2
    # First-spike decoding picks the earliest class where counts pick the busiest.
    # [T=4, B=1, C=2]: class 0 fires once at t=1, class 1 at t=2 and t=3.
    spikes = torch.tensor([[[0, 0]], [[1, 0]], [[0, 1]], [[0, 1]]], dtype=f64)
    assert CETemporal().readout_decoder().predict(spikes).tolist() == [0]
    assert CERate().readout_decoder().predict(spikes).tolist() == [1]
