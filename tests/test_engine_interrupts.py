"""Ctrl-C / SIGTERM during training: a clean stop at a safe point, an intact checkpoint,
a bit-exact resume — wherever the signal lands, inside a finalizer included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest
import torch

from spikeforge.engine.checkpoint import load_checkpoint
from spikeforge.engine.config import load_config
from spikeforge.engine.interrupts import TrainingInterruptedError, deferred_interrupts
from spikeforge.engine.run import make_trainer, resume

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS_PER_EPOCH = 12  # digits: 1,437 training images in batches of 128


def config(run_dir: Path):
    return load_config(
        "digits_csnn",
        [
            "train.epochs=2",
            "train.progress=false",
            "train.tensorboard=false",
            "data.batch_size=128",
            f"train.run_dir={run_dir.parent}",
            f"train.run_name={run_dir.name}",
        ],
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory, one_thread):
    """The uninterrupted run's final weights."""
    run_dir = tmp_path_factory.mktemp("interrupts") / "reference"
    trainer = make_trainer(config(run_dir), run_dir)
    trainer.fit()
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


class _Sentinel:
    """Something a ``weakref.finalize`` can watch."""


def _signal_at(trainer, where: str, step: int, signum: int = signal.SIGINT) -> None:
    """Deliver ``signum`` to this process once, at ``where`` of optimiser step ``step``:
    ``step`` (inside the method's forward), ``eval`` (during the epoch-end evaluation) or
    ``finalizer`` (from inside a ``weakref.finalize`` callback, where an exception raised
    by a signal handler is printed and dropped)."""
    original = trainer.method.forward
    fired = []

    def forward(model, inputs, targets):
        due = not fired and trainer.position.step == step
        in_step = where == "step" and model.training
        in_eval = where == "eval" and not model.training
        if due and (in_step or in_eval):
            fired.append(1)
            os.kill(os.getpid(), signum)
        elif due and where == "finalizer" and model.training:
            fired.append(1)
            sentinel = _Sentinel()
            weakref.finalize(sentinel, os.kill, os.getpid(), signum)
            del sentinel  # the finalizer runs here and the signal arrives inside it
        return original(model, inputs, targets)

    trainer.method.forward = forward


@pytest.mark.parametrize(
    ("where", "step"),
    [("step", 5), ("eval", STEPS_PER_EPOCH), ("finalizer", 16)],
)
def test_a_signal_anywhere_stops_cleanly_and_the_run_resumes_bit_exactly(
    tmp_path, reference, where, step
):
    run_dir = tmp_path / "run"
    trainer = make_trainer(config(run_dir), run_dir)
    _signal_at(trainer, where, step)
    # Python's own handler, or SIG_IGN when pytest was started in the background
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterruptedError) as info:
        trainer.fit()
    stop = info.value
    assert stop.signal_name == "SIGINT" and stop.run_dir == run_dir
    position = load_checkpoint(run_dir / "last.pt")["position"]
    # the step that was running when the signal came finished; none after it began
    expected_step = step + 1 if where != "eval" else STEPS_PER_EPOCH
    assert position["step"] == expected_step == stop.step
    assert signal.getsignal(signal.SIGINT) is before  # restored
    resumed, _ = resume(run_dir)
    state = resumed.model.state_dict()
    assert all(torch.equal(state[k], reference[k]) for k in reference)


# every place a signal can land: steps at epoch starts, middles and ends, and both
# epoch-end evaluations (evaluation runs only at the end of an epoch)
POINTS = [
    *[(where, step) for where in ("step", "finalizer") for step in (0, 1, 7, 11, 12, 13, 20, 23)],
    ("eval", STEPS_PER_EPOCH),
    ("eval", 2 * STEPS_PER_EPOCH),
]


@pytest.mark.slow
@pytest.mark.parametrize(("where", "step"), POINTS)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_every_point_and_signal(tmp_path, reference, where, step, signum):
    run_dir = tmp_path / "run"
    trainer = make_trainer(config(run_dir), run_dir)
    _signal_at(trainer, where, step, signum)
    with pytest.raises(TrainingInterruptedError):
        trainer.fit()
    resumed, _ = resume(run_dir)
    state = resumed.model.state_dict()
    assert all(torch.equal(state[k], reference[k]) for k in reference)


def test_a_second_ctrl_c_raises_at_once_and_handlers_are_restored():
    before = signal.getsignal(signal.SIGTERM)
    with deferred_interrupts() as request:
        os.kill(os.getpid(), signal.SIGINT)
        assert request.requested and request.name == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before


def test_nested_contexts_share_the_outer_request_and_handlers(tmp_path):
    before = signal.getsignal(signal.SIGINT)
    with deferred_interrupts() as outer:
        os.kill(os.getpid(), signal.SIGTERM)  # before the inner context (a trainer's fit)
        with deferred_interrupts() as inner:
            assert inner is outer and inner.requested  # the trainer sees the earlier signal
        handler = signal.getsignal(signal.SIGINT)
        assert handler is not before  # still deferred after the inner context
    assert signal.getsignal(signal.SIGINT) is before
    with deferred_interrupts() as fresh:
        assert fresh is not outer and not fresh.requested
    # a trainer asked to stop before its fit began stops at its first safe point
    trainer = make_trainer(config(tmp_path / "run"), tmp_path / "run")
    with deferred_interrupts() as request:
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(TrainingInterruptedError):
            trainer.fit()
    assert request.requested and trainer.position.step == 1
    assert load_checkpoint(tmp_path / "run" / "last.pt")["position"]["step"] == 1


def _spikeforge(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "spikeforge", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


@pytest.mark.parametrize("delay", [0.0, 0.4])
def test_ctrl_c_from_outside_prints_one_line_and_the_run_resumes(tmp_path, delay):
    """A real asynchronous SIGINT to `spikeforge train`: exit 130, one line naming the
    resume command, no traceback; `--resume` then finishes the run."""
    run_dir = tmp_path / "cli"
    args = [
        "train",
        "--config",
        "digits_csnn",
        "train.epochs=3",
        "train.progress=false",
        "train.tensorboard=false",
        "train.checkpoint_every=2",
        f"train.run_dir={tmp_path}",
        "train.run_name=cli",
    ]
    process = _spikeforge(*args)
    deadline = time.monotonic() + 120
    while not (run_dir / "last.pt").is_file():  # training has begun
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, (out, err)
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "interrupted (SIGINT) at epoch" in lines[0]
    assert f"spikeforge train --resume {run_dir}" in lines[0]
    load_checkpoint(run_dir / "last.pt")  # intact
    again = _spikeforge("train", "--resume", str(run_dir))
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert load_checkpoint(run_dir / "last.pt")["position"]["epoch"] == 3
