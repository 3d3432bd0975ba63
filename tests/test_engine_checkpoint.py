import os
import pickle

import pytest
import torch
from torch import nn

from spikeforge.engine.checkpoint import (
    RESUME_ENTRIES,
    RUN_ENTRIES,
    CheckpointError,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
)


def test_round_trip(tmp_path):
    path = save_checkpoint(tmp_path / "a" / "c.pt", {"w": torch.arange(3), "meta": {"x": 1}})
    payload = load_checkpoint(path, require=())
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
    assert load_checkpoint(path, require=())["v"].item() == 1
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


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs (root only); skipped with the reason where it cannot be mounted."""
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_says_so_and_keeps_the_previous_checkpoint(small_disk):
    path = small_disk / "last.pt"
    save_checkpoint(path, {"w": torch.zeros(10)})
    with pytest.raises(CheckpointError, match="no space left on the device") as info:
        save_checkpoint(path, {"w": torch.zeros(100_000)})
    assert "the previous checkpoint is kept" in str(info.value)
    assert torch.equal(load_checkpoint(path, require=())["w"], torch.zeros(10))
    assert [p.name for p in small_disk.iterdir()] == ["last.pt"]  # no temporary left


def test_empty_file_names_it_instead_of_crashing_the_formatter(tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"last\.pt' is empty \(0 bytes\)"):
        load_checkpoint(path)


def test_an_error_with_an_empty_message_is_still_described(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    path.write_bytes(b"x")

    def fail(*args, **kwargs):
        raise EOFError  # what torch.load raises on some truncated files: no message

    monkeypatch.setattr(torch, "load", fail)
    with pytest.raises(CheckpointError, match=r"c\.pt' is corrupt .*\(EOFError\)"):
        load_checkpoint(path)


def test_missing_run_entries_are_named_at_load(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"model": {"w": torch.zeros(1)}})
    with pytest.raises(CheckpointError, match=r"c\.pt' lacks the 'config' entry"):
        load_checkpoint(path)  # run checkpoints need config and model
    bare = save_checkpoint(tmp_path / "bare.pt", {"w": torch.zeros(1)})
    with pytest.raises(CheckpointError, match=r"lacks the 'config', 'model' entries"):
        load_checkpoint(bare)
    with pytest.raises(CheckpointError, match=r"lacks the 'history' entry"):
        load_checkpoint(path, require=("model", "history"))
    assert load_checkpoint(bare, require=())["w"].shape == (1,)


def test_resume_entries_and_payload_type(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"config": {}, "model": {}})
    with pytest.raises(CheckpointError, match=r"c\.pt' lacks the 'method', .* entries"):
        load_checkpoint(path, require=RESUME_ENTRIES)  # what continuing a run needs
    payload = load_checkpoint(path)
    assert type(payload) is dict  # plain: torch.save(payload) loads again with weights_only
    assert set(RESUME_ENTRIES) >= set(RUN_ENTRIES)


def test_cli_reports_a_bad_checkpoint_in_one_line(tmp_path, capsys):
    from spikeforge.cli import main

    path = tmp_path / "best.pt"
    path.write_bytes(b"")
    assert main(["eval", "--checkpoint", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and "empty" in err
    save_checkpoint(path, {"model": {}})
    assert main(["energy", "--checkpoint", str(path)]) == 2
    assert "lacks the 'config' entry" in capsys.readouterr().err


def test_non_finite_weights_are_refused_naming_the_entry():
    model = nn.Linear(3, 2)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["weight"][0, 1] = float("nan")
    with pytest.raises(
        CheckpointError, match=r"holds non-finite values \(NaN or inf\) in \['weight'\]"
    ):
        load_model_state(model, state, "x.pt")
    state["weight"][0, 1] = float("inf")
    with pytest.raises(CheckpointError, match="non-finite"):
        load_model_state(model, state, "x.pt")
