"""Decoders: hand-computed class values and predictions on tiny tensors."""

from __future__ import annotations

import pytest
import torch

from spikeforge.encoding import (
    DECODERS,
    READOUT_KINDS,
    FirstSpikeDecoder,
    MembraneDecoder,
    PopulationDecoder,
    RateDecoder,
    first_spike_decode,
    membrane_decode,
    population_decode,
    rate_decode,
)


def spikes_tbc(rows: list[list[list[float]]]) -> torch.Tensor:
    """Build ``[T, B, C]`` from a nested list written as [B][C][T] (easier to read)."""
    return torch.tensor(rows, dtype=torch.float64).permute(2, 0, 1).contiguous()


# Sample 0: class 0 fires at t=1,3; class 1 at t=0; class 2 silent.
# Sample 1: class 0 silent; class 1 at t=2; class 2 at t=0,1,2.
S = spikes_tbc(
    [
        [[0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]],
        [[0, 0, 0, 0], [0, 0, 1, 0], [1, 1, 1, 0]],
    ]
)


def test_rate_decoder():
    assert S.shape == (4, 2, 3)
    assert rate_decode(S).tolist() == [[2, 1, 0], [0, 1, 3]]
    assert rate_decode(S, "mean").tolist() == [[0.5, 0.25, 0.0], [0.0, 0.25, 0.75]]
    assert RateDecoder().predict(S).tolist() == [0, 2]


def test_first_spike_decoder_silent_is_t():
    times = first_spike_decode(S)
    assert times.dtype == torch.float64
    assert times.tolist() == [[1, 0, 4], [4, 2, 0]]
    assert FirstSpikeDecoder().predict(S).tolist() == [1, 2]


def test_population_decoder_groups_contiguous_neurons():
    # C = 2 classes × P = 3 neurons: counts per neuron sample 0 = [1,0,2 | 3,0,0].
    counts = torch.tensor([[1, 0, 2, 3, 0, 0], [0, 1, 0, 1, 1, 1]], dtype=torch.float64)
    T = 3
    spikes = (torch.arange(T).view(T, 1, 1) < counts.unsqueeze(0)).to(torch.float64)
    assert torch.equal(spikes.sum(0), counts)
    assert population_decode(spikes, 3).tolist() == [[3, 3], [1, 3]]
    dec = PopulationDecoder(population=3, num_classes=2)
    assert dec(spikes).tolist() == [[3, 3], [1, 3]]
    # Ties go to the lowest class index.
    assert dec.predict(spikes).tolist() == [0, 1]
    assert population_decode(spikes, 2).tolist() == [[1, 5, 0], [1, 1, 2]]
    with pytest.raises(ValueError, match="not a multiple of population=4"):
        population_decode(spikes, 4)
    with pytest.raises(ValueError, match=r"num_classes·population = 3·3 = 9 neurons, got 6"):
        PopulationDecoder(population=3, num_classes=3)(spikes)


def test_membrane_decoder_mean_and_max():
    mem = torch.tensor([[[1.0, -2.0]], [[3.0, 4.0]], [[-1.0, 1.0]]], dtype=torch.float64)
    assert membrane_decode(mem).tolist() == [[1.0, 1.0]]
    assert membrane_decode(mem, "max").tolist() == [[3.0, 4.0]]
    assert MembraneDecoder("max").predict(mem).tolist() == [1]
    assert MembraneDecoder("mean").predict(mem).tolist() == [0]


def test_decoder_input_checks():
    with pytest.raises(ValueError, match=r"\[T, B, N\].*got shape \(4, 3\)"):
        rate_decode(torch.zeros(4, 3))
    with pytest.raises(TypeError, match="floating-point"):
        first_spike_decode(torch.zeros(2, 1, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="reduction must be one of"):
        MembraneDecoder("median")


def test_decoder_registry():
    assert DECODERS.names() == ["first_spike", "membrane", "population", "rate"]
    assert isinstance(DECODERS.create("population", population=2), PopulationDecoder)
    with pytest.raises(ValueError, match="first_spike, membrane, population, rate"):
        DECODERS.get("phase")


def test_first_spike_and_membrane_decoders_group_a_population():
    # C = 2 classes × P = 2 neurons, T = 4: class 0's neurons fire first at t=3 and never,
    # class 1's never and at t=1, so class 1 is earlier.
    spikes = spikes_tbc([[[0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]]])
    assert first_spike_decode(spikes, population=2).tolist() == [[3, 1]]
    assert FirstSpikeDecoder(population=2).predict(spikes).tolist() == [1]
    assert FirstSpikeDecoder().predict(spikes).tolist() == [3]  # neuron 3 without groups
    mem = torch.tensor([[[1.0, 3.0, 0.0, 2.0]], [[3.0, -1.0, 4.0, 4.0]]], dtype=torch.float64)
    # time means per neuron [2, 1, 2, 3] -> group means [1.5, 2.5]
    assert membrane_decode(mem, population=2).tolist() == [[1.5, 2.5]]
    assert MembraneDecoder("max", population=2).forward(mem).tolist() == [[3.0, 4.0]]
    with pytest.raises(ValueError, match="not a multiple of population=3"):
        FirstSpikeDecoder(population=3)(spikes)


def test_each_decoder_says_which_readout_kinds_it_reads():
    assert list(READOUT_KINDS) == ["spikes", "membrane", "analog"]
    assert RateDecoder.accepts == ("spikes",)
    assert FirstSpikeDecoder.accepts == ("spikes",)
    assert MembraneDecoder.accepts == ("membrane", "analog")
    assert set(PopulationDecoder.accepts) == set(READOUT_KINDS)  # sums counts or membranes
    for name in DECODERS.names():
        assert set(DECODERS.get(name).accepts) <= set(READOUT_KINDS), name
