import pytest

from spikeforge.neurons import LIF, NEURONS, create_neuron


def test_core_neurons_registered_and_created_by_name_class_or_factory():
    assert {"if", "lif", "plif", "alif", "cuba", "rlif", "li"} <= set(NEURONS.names())
    assert isinstance(create_neuron("LIF", tau=3.0), LIF)
    assert create_neuron(LIF, tau=3.0).tau == 3.0
    assert create_neuron(lambda **kw: LIF(**kw), tau=4.0).tau == 4.0


def test_unknown_and_bad_specs():
    with pytest.raises(ValueError, match="unknown neuron 'lif2'.*registered: "):
        create_neuron("lif2")
    with pytest.raises(TypeError, match="neuron must be a name"):
        create_neuron(3)
