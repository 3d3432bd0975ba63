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
