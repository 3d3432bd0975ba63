"""The package root (``spikeforge/__init__.py``): its version, the public packages it
exposes, and the library-wide conventions its docstring states (time first, fire at
``H >= V_th``)."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import torch

import spikeforge
from spikeforge.neurons import IF, LIF

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_the_version_is_the_packages():
    assert spikeforge.__version__ == version("spikeforge")
    declared = re.search(r'^version = "([^"]+)"$', PYPROJECT.read_text(), re.MULTILINE)
    assert declared is not None and spikeforge.__version__ == declared.group(1)


def test_the_public_packages_are_attributes():
    for name in ("analysis", "data", "encoding", "engine", "functional", "kernels", "layers",
                 "losses", "methods", "models", "neurons", "surrogates"):  # fmt: skip
        module = getattr(spikeforge, name)
        assert module.__name__ == f"spikeforge.{name}"


def test_neurons_fire_when_the_membrane_reaches_the_threshold():
    # IF from rest: H = x exactly at V_th fires, just below does not
    x = torch.tensor([[[1.0, 1.0 - 2**-20]]])  # [T=1, B=1, 2]
    assert IF(v_th=1.0)(x).tolist() == [[[1.0, 0.0]]]


def test_time_comes_first():
    # LIF (tau = 2) from rest with a constant input of 1.5: H = 0.75, then 1.125 -> fires at t=1
    x = torch.full((3, 4, 5), 1.5)  # [T, B, N]
    spikes = LIF(tau=2.0)(x)
    assert spikes.shape == (3, 4, 5)
    assert spikes[:, 0, 0].tolist() == [0.0, 1.0, 0.0]
