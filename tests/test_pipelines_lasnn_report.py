"""The LaSNN report's figures (pipelines/lasnn_report.py) from hand-made results, stage
directories and activations."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import pytest
import torch
from torch import nn

from spikeforge.analysis.figures import render_figure
from spikeforge.methods.distill.lasnn import LaSNN
from spikeforge.pipelines.lasnn_report import (
    accuracy_vs_t_figure,
    energy_figure,
    firing_rates_figure,
    lasnn_attention_maps,
    read_metrics,
    training_curves_figure,
)

NS = "{http://www.w3.org/2000/svg}"

ROWS = [
    {"row": "teacher ANN", "init": "-", "T": None, "accuracy": 0.97, "energy_uj": 5.0, "seeds": 1},
    {"row": "intermediate ANN", "init": "-", "T": None, "accuracy": 0.95, "energy_uj": 3.0,
     "seeds": 1},
    {"row": "converted SNN (T=4)", "init": "converted", "T": 4, "accuracy": 0.5,
     "energy_uj": 0.5, "seeds": 1},
    {"row": "+ response KD", "init": "random", "T": 4, "accuracy": 0.88, "accuracy_std": 0.0,
     "energy_uj": 0.4, "seeds": 1, "variant": "kd"},
    {"row": "LaSNN (activation attention)", "init": "converted", "T": 2, "accuracy": 0.92,
     "accuracy_std": 0.014, "energy_uj": None, "seeds": 2, "variant": "lasnn_activation"},
]  # fmt: skip
RESULT = {
    "rows": ROWS,
    "conversion": {
        "timesteps": {"4": {"accuracy": 0.5}, "16": {"accuracy": 0.9}, "64": {"accuracy": 0.95}}
    },
    "claims": {"conversion_t_for_lasnn_accuracy": 64, "timestep_reduction": 32.0},
}


def test_accuracy_vs_t_has_the_curve_each_student_at_its_t_and_the_anns_as_lines():
    spec = accuracy_vs_t_figure(RESULT)
    assert spec["base"] == 2
    assert spec["curves"] == [{"label": "converted SNN", "x": [4, 16, 64], "y": [0.5, 0.9, 0.95]}]
    assert [(p["label"], p["x"], p["y"]) for p in spec["points"]] == [
        ("+ response KD", 4, 0.88),
        ("LaSNN (activation attention)", 2, 0.92),
    ]
    assert [p["yerr"] for p in spec["points"]] == [None, 0.014]  # std only over seeds
    assert [(h["label"], h["y"]) for h in spec["hlines"]] == [
        ("teacher ANN", 0.97),
        ("intermediate ANN", 0.95),
    ]
    assert "T=64 (32x the students' T)" in spec["note"]
    svg = ET.fromstring(render_figure(spec))
    points = {p.get("data-label"): p.get("data-x") for p in svg.iter(f"{NS}path")}
    assert points == {"+ response KD": "4", "LaSNN (activation attention)": "2"}


def test_energy_figure_has_one_point_per_row_with_an_energy():
    spec = energy_figure(ROWS)
    assert [p["label"] for p in spec["points"]] == [r["row"] for r in ROWS[:4]]
    assert spec["base"] == 10 and spec["points"][0]["x"] == 5.0
    svg = ET.fromstring(render_figure(spec))
    assert len(svg.findall(f".//{NS}path[@class='point']")) == 4


def write_metrics(directory, records):
    directory.mkdir(parents=True)
    (directory / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_training_curves_read_every_stage_and_average_student_seeds(tmp_path):
    write_metrics(tmp_path / "teacher", [
        {"epoch": 1, "train_loss": 1.0, "test_loss": 0.9, "test_acc": 0.6},
        {"epoch": 2, "train_loss": 0.5, "test_loss": 0.6, "test_acc": 0.8}])  # fmt: skip
    write_metrics(
        tmp_path / "s0",
        [{"epoch": 1, "train_loss": 2.0, "test_loss": 1, "train_acc": 0.5, "test_acc": 0.4}],
    )
    write_metrics(
        tmp_path / "s1", [{"epoch": 1, "train_loss": 3.0, "test_loss": 1, "test_acc": 0.6}]
    )
    assert read_metrics(tmp_path / "absent") == []
    spec = training_curves_figure(
        {
            "teacher": [tmp_path / "teacher"],
            "kd": [tmp_path / "s0", tmp_path / "s1"],
            "never ran": [tmp_path / "absent"],
        }
    )
    train, test_loss, train_acc, test_acc = spec["panels"]
    assert train["series"] == {"teacher": [[1.0, 2.0], [1.0, 0.5]], "kd": [[1.0], [2.5]]}
    assert test_acc["series"]["kd"] == [[1.0], [0.5]]
    assert test_loss["series"]["teacher"] == [[1.0, 2.0], [0.9, 0.6]]
    assert train_acc["series"] == {"kd": [[1.0], [0.5]]}  # only the seed that logged it
    assert render_figure(spec).count("<svg") == 4
    # without train accuracy anywhere (runs from before it was logged): no such panel
    spec = training_curves_figure({"kd": [tmp_path / "s1"]})
    assert [p["title"] for p in spec["panels"]] == ["train loss", "test loss", "test accuracy"]


def test_firing_rates_are_the_mean_over_seeds_per_layer():
    students = {
        "kd": [{"layer_firing_rates": {"a": 0.1, "b": 0.3}}, {"layer_firing_rates": {"a": 0.3}}],
        "joint": [{"layer_firing_rates": {"c": 0.2}}],
        "empty": [{}],
    }
    spec = firing_rates_figure(students, {"kd": "KD", "joint": "Joint", "empty": "E"})
    assert spec["labels"] == ["a", "b", "c"]
    assert spec["series"]["KD"] == [pytest.approx(0.2), 0.3, None]
    assert spec["series"]["Joint"] == [None, None, 0.2]
    assert firing_rates_figure({"x": [{}]}, {"x": "X"}) is None


class ChannelPick(nn.Module):
    """Teacher: layer "pick" keeps channel 0 of a 2-channel image (a 1×1 conv)."""

    def __init__(self) -> None:
        super().__init__()
        self.pick = nn.Conv2d(2, 2, 1, bias=False)
        with torch.no_grad():
            self.pick.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0]]).view(2, 2, 1, 1))
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pick(x).flatten(1))


class Passthrough(nn.Module):
    """Student ``[T, B, 2, 2, 2]`` -> ``[T, B, 3]``; layer "feat" outputs its input."""

    def __init__(self) -> None:
        super().__init__()
        self.feat = nn.Identity()
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.feat(x).flatten(2))


def test_attention_maps_equal_the_hand_computed_normalised_maps():
    image = torch.tensor([[[1.0, 2.0], [0.0, 1.0]], [[1.0, 0.0], [2.0, 0.0]]])  # [C=2, 2, 2]
    inputs = image.expand(2, 1, 2, 2, 2).clone()  # T = 2 identical steps (direct coding)
    method = LaSNN(ChannelPick(), pairs=[("pick", "feat")], attention="activation")
    maps = lasnn_attention_maps(method, Passthrough(), inputs, torch.tensor([0]))
    assert [(m["teacher"], m["student"]) for m in maps] == [("pick", "feat")]
    # student: Σ_c A_c² = [[2, 4], [4, 1]], norm √37; teacher (channel 0 only):
    # [[1, 4], [0, 1]], norm √18
    student = torch.tensor([[2.0, 4.0], [4.0, 1.0]]) / math.sqrt(37)
    teacher = torch.tensor([[1.0, 4.0], [0.0, 1.0]]) / math.sqrt(18)
    torch.testing.assert_close(maps[0]["student_map"][0], student)
    torch.testing.assert_close(maps[0]["teacher_map"][0], teacher)
    # p = 1: Σ_c |A_c|
    method_p1 = LaSNN(ChannelPick(), pairs=[("pick", "feat")], p=1.0)
    p1 = lasnn_attention_maps(method_p1, Passthrough(), inputs, torch.tensor([0]))
    torch.testing.assert_close(
        p1[0]["student_map"][0], torch.tensor([[2.0, 2.0], [2.0, 1.0]]) / math.sqrt(13)
    )
