"""``methods/base.py``: the method registry and the :class:`Method` base class, whose class
attributes say what the engine hands a method (a teacher, layer pairs, the run's seed)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from distill_nets import two_stage_teacher
from spikeforge.methods import METHODS, Method

# name -> (needs_teacher, needs_pairs, takes_seed)
CAPABILITIES = {
    "ann": (False, False, False),
    "bptt": (False, False, False),
    "decolle": (False, False, True),
    "eprop": (False, False, False),
    "feature_kd": (True, True, False),
    "hybrid": (False, False, False),
    "joint_asnn": (False, False, False),
    "kd": (True, False, False),
    "lasnn": (True, True, False),
    "mae": (False, False, True),
    "ottt": (False, False, False),
    "sltt": (False, False, True),
    "stdp": (False, False, False),
}


def _required(name: str) -> dict:
    """What each registered method needs to be built at all."""
    needs_teacher, needs_pairs, _ = CAPABILITIES[name]
    options: dict = {}
    if needs_teacher:
        options["teacher"] = two_stage_teacher()
    if needs_pairs:
        options["pairs"] = [("1", "1")]
    return options


def test_the_base_class_needs_nothing_and_does_nothing_by_default():
    method = Method()
    assert (Method.needs_teacher, Method.needs_pairs, Method.takes_seed) == (False,) * 3
    assert method.prepare(nn.Linear(2, 2), lambda n: torch.zeros(1, n, 2)) is None
    assert method.on_epoch_start(0, 3) is None
    assert isinstance(method, nn.Module)  # extra modules and buffers are checkpointed
    with pytest.raises(NotImplementedError):
        method(nn.Identity(), torch.zeros(2, 1, 3), torch.zeros(1, dtype=torch.long))


def test_every_registered_method_declares_what_it_needs():
    assert sorted(METHODS.names()) == sorted(CAPABILITIES)
    for name, (teacher, pairs, seed) in CAPABILITIES.items():
        cls = METHODS.get(name)
        assert issubclass(cls, Method), name
        assert (cls.needs_teacher, cls.needs_pairs, cls.takes_seed) == (teacher, pairs, seed), name


@pytest.mark.parametrize("name", list(CAPABILITIES))
def test_a_seed_is_taken_exactly_by_the_methods_that_say_so(name):
    options = _required(name)
    assert isinstance(METHODS.create(name, **options), Method)  # builds without a seed
    if METHODS.get(name).takes_seed:
        method = METHODS.create(name, seed=11, **options)
        assert 11 in (getattr(method, "seed", None), getattr(method, "readout_seed", None))
    else:
        with pytest.raises(TypeError):
            METHODS.create(name, seed=11, **options)


def test_methods_that_need_a_teacher_refuse_to_be_built_without_one():
    for name, (teacher, pairs, _) in CAPABILITIES.items():
        if not teacher:
            continue
        options = {"pairs": [("1", "1")]} if pairs else {}
        with pytest.raises(ValueError, match="teacher"):
            METHODS.create(name, **options)


def test_an_unknown_method_names_the_registered_ones():
    with pytest.raises(ValueError, match="unknown method 'sgd'; registered: ann, bptt"):
        METHODS.get("sgd")
