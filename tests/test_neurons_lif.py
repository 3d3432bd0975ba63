import math
import pickle

import pytest
import torch

from spikeforge.neurons import IF, LIF, PLIF


def test_plif_initial_decay_matches_tau_and_is_learnable():
    neuron = PLIF(tau=4.0)
    assert neuron.inv_tau.item() == pytest.approx(0.25)
    assert neuron.decay_logit.item() == pytest.approx(-math.log(3.0))
    assert [n for n, _ in neuron.named_parameters()] == ["decay_logit"]


def test_options_are_parameters_only_when_learnable():
    assert list(LIF().parameters()) == []
    names = {n for n, _ in LIF(learn_threshold=True, graded=True).named_parameters()}
    assert names == {"v_th", "spike_scale"}


def test_graded_spikes_scale_output():
    neuron = LIF(graded=True)
    with torch.no_grad():
        neuron.spike_scale.fill_(0.5)
    out = neuron(torch.full((3, 1, 2), 4.0))
    assert set(out.unique().tolist()) == {0.5}


def test_if_rejects_leak_options_and_bad_values():
    with pytest.raises(TypeError, match="IF has no leak"):
        IF(tau=2.0)
    with pytest.raises(ValueError, match="tau must be > 0"):
        LIF(tau=0.0)
    with pytest.raises(ValueError, match="tau must be >= 1"):
        LIF(tau=0.5)
    with pytest.raises(ValueError, match="tau must be > 1"):
        PLIF(tau=1.0)
    with pytest.raises(ValueError, match="reset must be one of"):
        LIF(reset="soft")
    with pytest.raises(ValueError, match="v_th must be a positive number"):
        LIF(v_th=-1.0)
    with pytest.raises(ValueError, match="backend must be one of"):
        LIF(backend="gpu")
    with pytest.raises(ValueError, match="unknown surrogate"):
        LIF(surrogate="nope")


def test_repr_and_pickle_roundtrip():
    neuron = LIF(tau=3.0, reset="subtract", surrogate="triangle")
    text = repr(neuron)
    assert "tau=3.0" in text and "reset='subtract'" in text and "Triangle(" in text
    clone = pickle.loads(pickle.dumps(neuron))
    x = torch.rand(4, 2, 3) * 3
    assert torch.equal(clone(x), neuron(x))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_parameters_are_refused_at_construction(bad):
    for build, name in [
        (lambda: LIF(tau=bad), "tau"),
        (lambda: PLIF(tau=bad), "tau"),
        (lambda: LIF(v_reset=bad), "v_reset"),
        (lambda: LIF(v_th=bad, learn_threshold=True), "v_th"),
        (lambda: IF(v_th=bad), "v_th"),
    ]:
        with pytest.raises(ValueError, match=f"{name} must be a (finite|positive) number"):
            build()
