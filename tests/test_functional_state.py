"""Typed neuron states (``functional/state.py``): NamedTuples with the documented fields,
handled by torch's pytree utilities, and what the dynamics hand back."""

from __future__ import annotations

import pytest
import torch
from torch.utils import _pytree as pytree

from spikeforge.functional.alif import ALIFParameters, alif_sequence
from spikeforge.functional.lif import lif_sequence
from spikeforge.functional.state import ALIFState, CuBaState, LIFState, LIState, RLIFState

FIELDS = {
    LIFState: ("v",),
    ALIFState: ("v", "a"),
    CuBaState: ("i", "v"),
    RLIFState: ("v", "s"),
    LIState: ("v",),
}


@pytest.mark.parametrize("cls", list(FIELDS), ids=lambda c: c.__name__)
def test_fields_and_pytree_round_trip(cls):
    assert cls._fields == FIELDS[cls]
    values = [torch.full((2, 3), float(i)) for i in range(len(cls._fields))]
    state = cls(*values)
    leaves, spec = pytree.tree_flatten(state)
    assert all(a is b for a, b in zip(leaves, values, strict=True))  # in field order
    rebuilt = pytree.tree_unflatten([leaf + 1 for leaf in leaves], spec)
    assert type(rebuilt) is cls
    for name, value in zip(cls._fields, values, strict=True):
        torch.testing.assert_close(getattr(rebuilt, name), value + 1)
    moved = pytree.tree_map(lambda t: t.double(), state)
    assert type(moved) is cls and all(t.dtype == torch.float64 for t in moved)


def test_the_dynamics_return_states_of_the_step_shape():
    x = torch.rand(4, 2, 3)
    _, lif = lif_sequence(x)
    assert type(lif) is LIFState and lif.v.shape == (2, 3)
    _, alif = alif_sequence(x, p=ALIFParameters())
    assert type(alif) is ALIFState and alif.v.shape == alif.a.shape == (2, 3)
    # a state continues a sequence: two halves equal the whole
    s_all, end = lif_sequence(x)
    s1, mid = lif_sequence(x[:2])
    s2, end2 = lif_sequence(x[2:], mid)
    assert torch.equal(torch.cat([s1, s2]), s_all) and torch.equal(end2.v, end.v)
