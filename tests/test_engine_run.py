import pytest

from spikeforge.engine.checkpoint import CheckpointError
from spikeforge.engine.config import load_config
from spikeforge.engine.run import evaluate_checkpoint, resume, train


def test_train_eval_and_refuse_to_overwrite(tmp_path):
    config = load_config(
        None,
        ["train.epochs=1", "train.progress=false", f"train.run_dir={tmp_path}", "train.run_name=a"],
    )
    _trainer, final = train(config)
    metrics = evaluate_checkpoint(tmp_path / "a" / "last.pt")
    assert metrics["accuracy"] == pytest.approx(final["test_acc"])
    with pytest.raises(FileExistsError, match="--resume"):
        train(config)
    _, again = resume(tmp_path / "a")  # already finished: resumes to the same end
    assert again["test_acc"] == final["test_acc"]


def test_eval_rejects_a_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError):
        evaluate_checkpoint(bad)


def _named(tmp_path, name, *extra):
    return load_config(
        None,
        [
            "train.epochs=1",
            "train.max_steps=1",
            "train.progress=false",
            "train.tensorboard=false",
            f"train.run_dir={tmp_path}",
            f"train.run_name={name}",
            *extra,
        ],
    )


def test_a_directory_holding_anything_is_never_reused_without_overwrite(tmp_path):
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("my notes")
    with pytest.raises(FileExistsError, match=r"already holds a run \(notes.txt\).*--overwrite"):
        train(_named(tmp_path, "kept"))
    assert (tmp_path / "kept" / "notes.txt").read_text() == "my notes"
    trainer, _ = train(_named(tmp_path, "kept"), overwrite=True)
    assert not (tmp_path / "kept" / "notes.txt").exists()
    assert (trainer.run_dir / "last.pt").is_file()


def test_default_run_directories_are_unique_within_one_second(tmp_path, monkeypatch):
    import spikeforge.engine.run as run_module

    monkeypatch.setattr(run_module.time, "strftime", lambda fmt: "20261205-120000")
    config = load_config(
        None,
        [
            "train.epochs=1",
            "train.max_steps=1",
            "train.progress=false",
            f"train.run_dir={tmp_path}",
        ],
    )
    first = run_module.claim_run_directory(config)
    second = run_module.claim_run_directory(config)
    assert first.name == "digits-csnn_tiny-20261205-120000"
    assert second.name == "digits-csnn_tiny-20261205-120000-2"
    assert first.is_dir() and second.is_dir()


def test_a_failed_resume_writes_nothing(tmp_path):
    train(_named(tmp_path, "r", "train.checkpoint_every=1"))
    run = tmp_path / "r"
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != "last.pt"}
    (run / "last.pt").write_bytes(b"")  # a 0-byte checkpoint
    with pytest.raises(CheckpointError, match="last.pt"):
        resume(run, ["train.epochs=2"])
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != "last.pt"}
    assert after == before  # config.yaml and the metrics untouched: the run stays resumable


def test_resume_names_what_is_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no config.yaml"):
        resume(tmp_path / "empty")


def test_a_run_refused_while_building_leaves_no_directory(tmp_path):
    config = _named(tmp_path, "refused", "train.objective=ce_temporal")  # analog readout
    with pytest.raises(ValueError, match="ce_temporal needs spiking outputs"):
        train(config)
    assert not (tmp_path / "refused").exists()
