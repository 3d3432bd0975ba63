"""Progress reporting (_progress.py): tqdm on a terminal, throttled plain lines elsewhere."""

import io

import pytest
import torch

from spikeforge._progress import progress


class Clock:
    """A hand-driven time source: ``clock.now`` seconds."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_carry_counts_rate_eta_and_postfix():
    stream, clock = io.StringIO(), Clock()
    with progress(460, "train", stream=stream, every_s=30.0, clock=clock) as bar:
        for _ in range(119):
            clock.now += 0.25
            bar.set_postfix(loss=0.41234)
            bar.update(1)
        assert stream.getvalue() == ""  # under every_s since the start: nothing yet
        clock.now += 0.25  # 30 s after the start, batch 120: a line is due
        bar.update(1)
        lines = stream.getvalue().splitlines()
        assert lines == ["train: 120/460 batches (26%), 4.0 batch/s, ETA 1 min 25 s, loss 0.4123"]
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("train: 120/460 batches (26%), 4.0 batch/s")
    assert lines[1].endswith(", 30 s, loss 0.4123")  # the final line: elapsed, not ETA


def test_plain_lines_are_throttled_by_the_interval():
    stream, clock = io.StringIO(), Clock()
    bar = progress(range(100), "eval", stream=stream, every_s=10.0, clock=clock)
    for _ in bar:
        clock.now += 1.0  # a line every 10 batches, plus the one at the end
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11
    assert lines[0] == "eval: 10/100 batches (10%), 1.0 batch/s, ETA 1 min 30 s"
    assert lines[-1] == "eval: 100/100 batches (100%), 1.0 batch/s, 1 min 40 s"


def test_every_update_prints_with_a_zero_interval_and_slow_rates_read_seconds_per_unit():
    stream, clock = io.StringIO(), Clock()
    with progress(3, "sweep", unit="sample", stream=stream, every_s=0, clock=clock) as bar:
        for _ in range(3):
            clock.now += 4.0
            bar.update()
    lines = stream.getvalue().splitlines()
    assert lines[:3] == [
        "sweep: 1/3 samples (33%), 4.0 s/sample, ETA 8 s",
        "sweep: 2/3 samples (67%), 4.0 s/sample, ETA 4 s",
        "sweep: 3/3 samples (100%), 4.0 s/sample, ETA 0 s",
    ]
    assert lines[3] == "sweep: 3/3 samples (100%), 4.0 s/sample, 12 s" and len(lines) == 4


def test_unknown_total_and_resumed_start():
    stream, clock = io.StringIO(), Clock()
    items = list(progress(iter("abc"), "gen", stream=stream, every_s=0, clock=clock))
    assert items == ["a", "b", "c"]
    lines = ["gen: 1 batch", "gen: 2 batches", "gen: 3 batches", "gen: 3 batches, 0 s"]
    assert stream.getvalue().splitlines() == lines  # no time passed: no rate, no ETA
    stream = io.StringIO()
    with progress(10, "epoch 2/5", initial=6, stream=stream, clock=clock) as bar:
        clock.now += 2.0
        bar.update(2)  # the rate counts only the batches done since the resume
    assert stream.getvalue() == "epoch 2/5: 8/10 batches (80%), 1.0 batch/s, 2 s\n"


def test_disabled_is_silent_but_still_iterates():
    stream = Terminal()
    assert list(progress(range(4), "x", enabled=False, stream=stream, every_s=0)) == [0, 1, 2, 3]
    with progress(5, "y", enabled=False, stream=stream, every_s=0) as bar:
        bar.update(5)
        bar.set_postfix(loss=1.0)
    assert stream.getvalue() == ""


def test_a_terminal_gets_a_tqdm_bar():
    stream = Terminal()
    with progress(20, "train", stream=stream) as bar:
        for _ in range(20):
            bar.set_postfix(loss=0.5)
            bar.update(1)
    text = stream.getvalue()
    assert "\r" in text and "train:" in text and "20/20" in text  # redrawn in place
    assert "batch/s" in text and "loss=0.5" in text and "100%" in text
    assert "batches (" not in text  # not the plain-line format


def test_a_terminal_bar_can_be_erased_when_done():
    stream = Terminal()
    for _ in progress(range(3), "eval", stream=stream, leave=False):
        pass
    assert stream.getvalue().endswith("\r")  # the line is cleared, no newline left


def test_default_stream_is_stderr_looked_up_at_call_time(capsys):
    for _ in progress(range(2), "eval", every_s=0):
        pass
    captured = capsys.readouterr()  # pytest's capture is no terminal: plain lines
    assert captured.out == "" and captured.err.splitlines()[-1].startswith("eval: 2/2 batches")


def test_negative_interval_is_refused():
    with pytest.raises(ValueError, match="every_s must be >= 0"):
        progress(3, "x", every_s=-1)


def test_counting_display_is_not_iterable():
    with pytest.raises(TypeError, match="call update"):
        list(progress(3, "x", enabled=False))


def test_conversion_sweep_reports_its_batches_without_changing_results(capsys):
    from torch import nn

    from spikeforge.data.datasets.base import ArrayDataset
    from spikeforge.methods.conversion import convert
    from spikeforge.methods.conversion.evaluate import accuracy_vs_timesteps

    torch.manual_seed(0)
    ann = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x = torch.rand(30, 1, 2, 2)
    dataset = ArrayDataset(x.numpy(), [i % 3 for i in range(30)], ["a", "b", "c"])
    snn = convert(ann, x, "max")
    quiet = accuracy_vs_timesteps(snn, dataset, (2, 4), batch_size=8, chunk=2, limit=20)
    assert capsys.readouterr().err == ""  # progress is off by default
    shown = accuracy_vs_timesteps(
        snn, dataset, (2, 4), batch_size=8, chunk=2, limit=20, progress=True
    )
    assert shown == quiet
    assert capsys.readouterr().err.startswith("conversion T<=4: 3/3 batches (100%)")
