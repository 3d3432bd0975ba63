import os
import pickle

import pytest
import torch
from torch import nn

from spikeforge.engine.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
)


def test_round_trip(tmp_path):
    path = save_checkpoint(tmp_path / "a" / "c.pt", {"w": torch.arange(3), "meta": {"x": 1}})
    payload = load_checkpoint(path)
    assert torch.equal(payload["w"], torch.arange(3)) and payload["meta"] == {"x": 1}


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "c.pt", {"v": torch.tensor(1)})

    def crash(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of writing

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"v": torch.tensor(2)})
    monkeypatch.undo()
    assert load_checkpoint(path)["v"].item() == 1
    assert os.listdir(tmp_path) == ["c.pt"]  # no temporary file left behind


class Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_corrupt_and_code_carrying_files_are_refused(tmp_path):
    garbage = tmp_path / "g.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt or not a spikeforge checkpoint"):
        load_checkpoint(garbage)
    evil = tmp_path / "evil.pt"
    with evil.open("wb") as f:
        pickle.dump({"format_version": 1, "x": Boom()}, f)
    with pytest.raises(CheckpointError, match="corrupt or not a spikeforge checkpoint"):
        load_checkpoint(evil)  # weights_only refuses to call os.system
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")
    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.zeros(1)}, plain)
    with pytest.raises(CheckpointError, match="no spikeforge format_version"):
        load_checkpoint(plain)


def test_mismatched_model_state_names_the_keys():
    model = nn.Linear(3, 2)
    state = nn.Linear(4, 2).state_dict()
    with pytest.raises(CheckpointError, match=r"weight: checkpoint \(2, 4\) vs model \(2, 3\)"):
        load_model_state(model, state, "x.pt")
