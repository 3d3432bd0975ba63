"""``spikeforge bench equilibrium``: its options and the memory probe it reports (the
training runs themselves are not repeated here)."""

from __future__ import annotations

import pytest

from spikeforge.bench import equilibrium as be
from spikeforge.engine.config import load_config


def test_help_and_the_shipped_config(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        be.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "implicit vs phantom" in out and "--out" in out
    assert list(tmp_path.iterdir()) == []
    config = load_config(be.CONFIG)
    assert config.model.name == "equilibrium_snn" and config.data.name == "digits"
    # the overrides main() applies are valid keys of that config
    changed = load_config(be.CONFIG, ["model.kwargs={width: 128, t_conv: 32, backward: phantom}"])
    assert changed.model.kwargs["backward"] == "phantom"


def test_saved_memory_does_not_grow_with_the_simulated_steps():
    """The implicit gradient differentiates the fixed point, not the simulation: autograd
    keeps the same tensors for 4 or 64 simulated steps, at least the input itself."""
    small, large = be.saved_kib(4), be.saved_kib(64)
    assert small == large
    assert small >= 64 * 64 * 4 / 1024  # the input x [64, 64] in float32
    assert small < 16 * 64 * 128 * 4 / 1024  # less than 16 steps of float32 states [64, 128]
