"""``pipelines/spikingbert_stage.py``: a SpikingBERT stage stopped by SIGTERM/SIGINT in
the middle of an epoch keeps its place and, resumed, ends bit-identical to a run that
never stopped — through the pipeline and through the CLI."""

import json
import os
import signal

import pytest
import torch

from spikeforge.cli import main
from spikeforge.engine.interrupts import TrainingInterruptedError
from spikeforge.methods.distill.spikingbert import SpikingBertDistiller
from spikeforge.pipelines.spikingbert import run_spikingbert
from sst2_runs import TINY as BASE
from sst2_runs import needs_sst2

pytestmark = [pytest.mark.usefixtures("one_thread"), needs_sst2]

# a teacher with dropout (its RNG must continue where it stopped), two epochs per stage
TINY = [
    *BASE,
    "teacher_model.dropout=0.3",
    "teacher.epochs=2",
    "scratch.epochs=2",
    "only=[scratch]",
    "sweep=[4]",
]


def _signal_at_call(monkeypatch, call: int, signum: int) -> list[int]:
    """Send ``signum`` to this process inside the ``call``-th training batch."""
    real, calls = SpikingBertDistiller.loss, []

    def loss(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            os.kill(os.getpid(), signum)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SpikingBertDistiller, "loss", loss)
    return calls


def _same_weights(a_path, b_path) -> bool:
    a, b = (torch.load(p, weights_only=True) for p in (a_path, b_path))
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def whole(tmp_path_factory, one_thread):
    run_dir = tmp_path_factory.mktemp("whole") / "run"
    return run_dir, run_spikingbert(run_dir=run_dir, overrides=TINY, log=None)


def test_sigterm_inside_the_teachers_epoch_resumes_at_its_batch(whole, tmp_path, monkeypatch):
    # The teacher draws dropout masks, so the RNG must continue where it stopped: call 5
    # is epoch 2's second batch; the stop comes before the third.
    cut = tmp_path / "cut"
    calls = _signal_at_call(monkeypatch, 5, signal.SIGTERM)
    with pytest.raises(TrainingInterruptedError, match=r"SIGTERM\) at epoch 2, step 2"):
        run_spikingbert(run_dir=cut, overrides=TINY, log=None)
    assert len(calls) == 5  # nothing ran after the batch in flight
    state = torch.load(cut / "teacher/last.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (1, 2) and set(state["sums"]) == {"ce"}
    assert state["seconds"] > 0  # training time so far, carried into the resumed call
    assert not (cut / "teacher/result.json").exists()
    monkeypatch.undo()
    lines: list[str] = []
    resumed = run_spikingbert(run_dir=cut, overrides=TINY, log=lines.append)
    assert any("teacher] resuming epoch 2 at batch 2" in line for line in lines)
    run_dir, result = whole
    assert _same_weights(run_dir / "teacher/model.pt", cut / "teacher/model.pt")
    assert resumed["rows"] == result["rows"]
    # the stage's training time counts the part before the stop too
    stage = json.loads((cut / "teacher/result.json").read_text())
    assert stage["train_seconds"] >= round(state["seconds"], 1)
    # the epoch's mean loss counts every batch once, the ones before the stop included
    done = torch.load(cut / "teacher/last.pt", weights_only=True)["history"]
    assert done == torch.load(run_dir / "teacher/last.pt", weights_only=True)["history"]


def test_the_cli_stops_on_sigint_with_one_line_and_resumes(whole, tmp_path, monkeypatch, capsys):
    # Call 11 is the student's second batch of epoch 2 (teacher 6 calls, epoch 1 three).
    args = ["run", "spikingbert", "--run-dir", str(tmp_path / "cli"), *TINY]
    _signal_at_call(monkeypatch, 11, signal.SIGINT)
    assert main(args) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "interrupted (SIGINT) at epoch 2, step 2" in err[0]
    assert err[0].endswith("re-run the same command to resume")
    monkeypatch.undo()
    assert main(args) == 0
    assert "resuming epoch 2 at batch 2" in capsys.readouterr().out
    stage = "students/scratch/seed0/model.pt"
    assert _same_weights(whole[0] / stage, tmp_path / "cli" / stage)


def test_a_stop_in_an_epochs_last_batch_resumes_at_the_next_epoch(whole, tmp_path, monkeypatch):
    # Call 3 is the teacher's last batch of epoch 1: the epoch finishes, and the stop is
    # seen before epoch 2's first batch, after that epoch's loader drew its seed.
    cut = tmp_path / "cut"
    _signal_at_call(monkeypatch, 3, signal.SIGTERM)
    with pytest.raises(TrainingInterruptedError, match=r"at epoch 2, step 0"):
        run_spikingbert(run_dir=cut, overrides=TINY, log=None)
    state = torch.load(cut / "teacher/last.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (1, 0)
    monkeypatch.undo()
    lines: list[str] = []
    run_spikingbert(run_dir=cut, overrides=TINY, log=lines.append)
    assert any("teacher] resuming after epoch 1" in line for line in lines)
    assert _same_weights(whole[0] / "teacher/model.pt", cut / "teacher/model.pt")
