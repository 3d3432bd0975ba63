"""The training-progress protocol: progress from a position, ramps, finding subscribers,
driving them and collecting the values they reached (the trainer's use:
tests/test_engine_trainer.py)."""

from __future__ import annotations

import math

import pytest
from torch import nn

from spikeforge._schedule import (
    ProgressScheduled,
    check_ramp,
    find_scheduled,
    linear_ramp,
    schedule_values,
    schedules_finished,
    set_progress,
    training_progress,
)


def test_training_progress_is_the_fraction_done_before_the_step():
    assert training_progress(0, 0, 10, 4) == 0.0
    assert training_progress(1, 5, 10, 4) == pytest.approx(1.5 / 4)
    assert training_progress(3, 9, 10, 4) == pytest.approx(3.9 / 4)
    assert training_progress(4, 0, 10, 4) == 1.0  # the end of the last epoch
    assert training_progress(9, 0, 10, 4) == 1.0  # clipped
    for steps, epochs in ((0, 4), (10, 0)):
        with pytest.raises(ValueError, match=">= 1"):
            training_progress(0, 0, steps, epochs)


def test_linear_ramp_holds_zero_then_rises_then_holds_one():
    values = [linear_ramp(p, 0.25, 0.75) for p in (0.0, 0.25, 0.5, 0.7, 0.75, 1.0)]
    assert values == pytest.approx([0.0, 0.0, 0.5, 0.9, 1.0, 1.0])
    assert [linear_ramp(p, 0.5, 0.5) for p in (0.0, 0.49, 0.5, 1.0)] == [0, 0, 1, 1]
    assert linear_ramp(0.0, 0.0, 0.0) == 1.0  # [0, 0]: 1 from the first step


def test_check_ramp_accepts_ordered_fractions_and_names_the_setting():
    assert check_ramp([0, 0.125], "mask_schedule") == (0.0, 0.125)
    assert check_ramp((0.5, 0.5), "s") == (0.5, 0.5)
    for bad in ([0.5, 0.25], [0, 1.5], [-0.1, 0.5], [0], [0, 0.5, 1], "01", 0.5,
                [True, 1], [0, math.nan], None):  # fmt: skip
        with pytest.raises(ValueError, match=r"mask_schedule must be \[start, end\]"):
            check_ramp(bad, "mask_schedule")


class _Ramp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.value = -1.0

    def on_training_progress(self, progress: float) -> None:
        self.value = linear_ramp(progress, 0.0, 0.5)

    def schedule_values(self) -> dict[str, float]:
        return {"value": self.value}


class _Silent(nn.Module):  # subscribes, reports nothing
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[float] = []

    def on_training_progress(self, progress: float) -> None:
        self.seen.append(progress)


def test_subscribers_are_found_driven_and_report_by_module_name():
    model = nn.Sequential(nn.Linear(2, 2), _Ramp(), nn.Sequential(_Silent(), _Ramp()))
    scheduled = find_scheduled(model)
    assert [name for name, _ in scheduled] == ["1", "2.0", "2.1"]
    assert isinstance(model[1], ProgressScheduled) and not isinstance(model[0], ProgressScheduled)
    set_progress(scheduled, 0.25)
    assert schedule_values(scheduled) == {"1.value": 0.5, "2.1.value": 0.5}
    set_progress(scheduled, 0.75)
    assert schedule_values(scheduled) == {"1.value": 1.0, "2.1.value": 1.0}
    assert model[2][0].seen == [0.25, 0.75]
    root = _Ramp()  # the model itself subscribing: its keys carry no prefix
    set_progress(find_scheduled(root), 0.1)
    assert schedule_values(find_scheduled(root)) == {"value": pytest.approx(0.2)}
    assert find_scheduled(nn.Linear(2, 2)) == [] and schedule_values([]) == {}


def test_schedules_are_finished_only_when_every_subscriber_says_so():
    class Ramp(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.value = 0.0

        def on_training_progress(self, progress: float) -> None:
            self.value = linear_ramp(progress, 0.0, 0.5)

        def schedule_finished(self) -> bool:
            return self.value >= 1.0

    class Plain(nn.Module):  # no schedule_finished: counts as finished
        def on_training_progress(self, progress: float) -> None:
            pass

    net = nn.Sequential(Ramp(), Plain())
    scheduled = find_scheduled(net)
    set_progress(scheduled, 0.25)
    assert not schedules_finished(scheduled)
    set_progress(scheduled, 0.5)
    assert schedules_finished(scheduled)
    assert schedules_finished(find_scheduled(nn.Sequential(Plain())))
