"""The LaSNN pipeline end to end on digits in a tiny setting, and its resume logic."""

import json
from pathlib import Path

import pytest
import torch

from spikeforge.cli import main
from spikeforge.methods.conversion.model import ConvertedSNN
from spikeforge.pipelines.lasnn import format_table, load_config, run_lasnn

TINY = [
    "teacher.train.epochs=1",
    "intermediate.train.epochs=1",
    "student.train.epochs=1",
    "conversion.timesteps=[4, 8, 16]",
    "converted.kwargs.calibration_samples=256",
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, one_thread):
    run_dir = tmp_path_factory.mktemp("lasnn") / "run"
    return run_lasnn("digits", run_dir=run_dir, overrides=TINY, log=None)


def test_pipeline_produces_every_row_with_sane_values(tiny_run):
    assert tiny_run["status"] == "complete"
    rows = {r["row"]: r for r in tiny_run["rows"]}
    expected = [
        "teacher ANN",
        "intermediate ANN",
        "student SNN from scratch",
        "+ response KD",
        "+ feature KD",
        "LaSNN (activation attention)",
        "LaSNN (gradient attention)",
        "Joint A-SNN",
    ]
    assert all(name in rows for name in expected)
    assert any(name.startswith("converted SNN (T=4)") for name in rows)
    for r in tiny_run["rows"]:
        assert 0.0 <= r["accuracy"] <= 1.0
        assert r["energy_uj"] > 0
        if r["T"] is not None:  # SNN rows
            assert 0.0 < r["firing_rate"] < 1.0
        trained = not r["row"].startswith("converted SNN (T=")  # conversion trains nothing
        assert (r["train_seconds"] > 0) if trained else r["train_seconds"] is None, r["row"]
    assert rows["teacher ANN"]["accuracy"] > 0.5  # one epoch already learns digits
    assert rows["LaSNN (activation attention)"]["init"] == "converted"
    assert rows["student SNN from scratch"]["init"] == "random"
    assert rows["Joint A-SNN"]["init"] == "own"
    # SNN rows at T=4 spend less energy than the intermediate ANN they came from
    assert rows["LaSNN (activation attention)"]["energy_uj"] < rows["intermediate ANN"]["energy_uj"]
    assert "beats_scratch" in tiny_run["claims"] and "beats_kd" in tiny_run["claims"]


def test_pipeline_writes_json_markdown_and_report(tiny_run):
    from pathlib import Path

    run_dir = Path(tiny_run["run_dir"])
    saved = json.loads((run_dir / "results.json").read_text())
    assert [r["row"] for r in saved["rows"]] == [r["row"] for r in tiny_run["rows"]]
    table = (run_dir / "results.md").read_text()
    assert table.strip() == format_table(tiny_run).strip()
    assert "| LaSNN (gradient attention) |" in table
    html = (run_dir / "report.html").read_text()
    assert "Distillation" in html and "ANN→SNN conversion" in html
    conversion = json.loads((run_dir / "conversion" / "result.json").read_text())
    assert set(conversion["timesteps"]) == {"4", "8", "16"}


def report_figures(html: str) -> dict:
    """``{figure name: parsed <svg>}`` of a report's figures, and its headings."""
    import re
    import xml.etree.ElementTree as ET

    found = {}
    for svg in re.findall(r"<svg data-figure=.*?</svg>", html, flags=re.S):
        tree = ET.fromstring(svg)
        found[tree.get("data-figure")] = tree
    return found


def test_report_tells_the_story_in_figures(tiny_run):
    from pathlib import Path

    ns = "{http://www.w3.org/2000/svg}"
    run_dir = Path(tiny_run["run_dir"])
    html = (run_dir / "report.html").read_text()
    for heading in ("Accuracy vs time steps", "Accuracy vs energy per inference",
                    "Training curves", "Attention maps: teacher vs student",
                    "Per-layer firing rates"):  # fmt: skip
        assert f"<h2>{heading}</h2>" in html
    figures = report_figures(html)
    # accuracy vs T: the conversion curve at its 3 T, every student a point at T = 4
    acc_t = figures["accuracy_vs_T"]
    curve = acc_t.findall(f".//{ns}circle[@class='curve-point']")
    assert sorted(int(c.get("data-x")) for c in curve) == [4, 8, 16]
    students = [r for r in tiny_run["rows"] if "variant" in r]
    points = acc_t.findall(f".//{ns}path[@class='point']")
    assert [(p.get("data-label"), p.get("data-x")) for p in points] == [
        (r["row"], "4") for r in students
    ]
    for point, row in zip(points, students, strict=True):
        assert float(point.get("data-y")) == pytest.approx(row["accuracy"])
    hlines = [h.get("data-label") for h in acc_t.findall(f".//{ns}line[@class='hline']")]
    assert hlines == ["teacher ANN", "intermediate ANN"]
    # accuracy vs energy: one point per table row
    energy = figures["accuracy_vs_energy"].findall(f".//{ns}path[@class='point']")
    assert len(energy) == len(tiny_run["rows"])
    # attention: per LaSNN variant, 4 images x (input + teacher/student per pair of 2)
    for label in ("LaSNN (activation attention)", "LaSNN (gradient attention)"):
        maps = figures[f"attention_{label}"].findall(f".//{ns}image[@class='heatmap']")
        assert len(maps) == 4 * (1 + 2 * 2)
        assert sum(m.get("data-kind") == "map" for m in maps) == 16
    # training curves: four panels (train loss, test loss, train accuracy, test accuracy),
    # a line for the teacher, the intermediate ANN and every student variant in each
    names = {"teacher ANN", "intermediate ANN", *(r["row"] for r in students)}
    for panel in range(4):
        chart = figures[f"training_curves/{panel}"]
        assert names <= {t.text for t in chart.iter(f"{ns}text")}
        assert len(chart.findall(f".//{ns}circle")) == len(names)  # one epoch each
    # firing rates: a bar per (student, layer) it has, at the run's recorded rate
    bars = [t.text for t in figures["firing_rates"].iter(f"{ns}title")][1:]  # [0]: figure's
    recorded = [
        (layer, rate)
        for r in students
        for layer, rate in json.loads(
            (run_dir / "students" / r["variant"] / "seed0" / "result.json").read_text()
        )["layer_firing_rates"].items()
    ]
    assert len(bars) == len(recorded)
    assert sorted(bars) == sorted(f"{layer}: {rate:.4g}" for layer, rate in recorded)
    pictures = sorted(p.name for p in (run_dir / "figures").iterdir())
    pytest.importorskip("matplotlib")
    assert "accuracy_vs_T.png" in pictures and "accuracy_vs_T.pdf" in pictures
    assert len(pictures) == 2 * 6  # 2 curves-of-points, curves, 2 attention, rates


@pytest.mark.parametrize("student", ["scratch", "feature_kd", "lasnn_activation", "joint_asnn"])
def test_student_checkpoints_reopen_in_eval_energy_and_report(tiny_run, student, capsys):
    from pathlib import Path

    stage = Path(tiny_run["run_dir"]) / "students" / student / "seed0"
    expected = json.loads((stage / "result.json").read_text())["accuracy"]
    out = stage / "eval.json"
    # The teacher is not in the student's config: evaluation must not need it.
    assert main(["eval", "--checkpoint", str(stage / "last.pt"), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["accuracy"] == pytest.approx(expected, abs=1e-9)
    assert main(["energy", "--checkpoint", str(stage / "last.pt"), "--samples", "16"]) == 0
    assert main(["report", str(stage)]) == 0
    assert (stage / "report.html").stat().st_size > 1000
    capsys.readouterr()


def test_rerun_skips_every_finished_stage(tiny_run):
    from pathlib import Path

    run_dir = Path(tiny_run["run_dir"])
    stage_files = sorted(p for p in run_dir.rglob("*") if p.is_file() and "students" in p.parts)
    stage_files += sorted((run_dir / "teacher").iterdir())
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in stage_files}
    lines = []
    again = run_lasnn("digits", run_dir=run_dir, overrides=TINY, log=lines.append)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in stage_files} == before
    assert len(lines) == 10 and all("skipped" in line for line in lines)
    assert [r["accuracy"] for r in again["rows"]] == [r["accuracy"] for r in tiny_run["rows"]]


def _state(path):
    return torch.load(path, weights_only=False)["model"]


def test_interrupted_pipeline_resumes_in_the_stage_it_stopped_in(tmp_path, monkeypatch):
    settings = [*TINY, "intermediate.train.epochs=2"]
    # Reference: the first two stages without interruption.
    reference = tmp_path / "reference"
    run_lasnn("digits", run_dir=reference, overrides=settings, stop_after="intermediate", log=None)

    run_dir = tmp_path / "run"
    result = run_lasnn(
        "digits", run_dir=run_dir, overrides=settings, stop_after="teacher", log=None
    )
    assert result["status"] == "stopped" and result["stage"] == "teacher"
    assert not (run_dir / "intermediate").exists()
    teacher = run_dir / "teacher" / "last.pt"
    teacher_mtime, teacher_bytes = teacher.stat().st_mtime_ns, teacher.read_bytes()

    # Interrupt stage 2 in its second epoch (23 steps per epoch on digits).
    interrupt = [
        *settings,
        "intermediate.train.max_steps=26",
        "intermediate.train.checkpoint_every=1",
    ]
    result = run_lasnn("digits", run_dir=run_dir, overrides=interrupt, log=None)
    assert result["status"] == "interrupted" and result["stage"] == "intermediate"
    assert not (run_dir / "intermediate" / "result.json").exists()
    assert torch.load(run_dir / "intermediate" / "last.pt", weights_only=False)["position"] == {
        "epoch": 1,
        "batch": 3,
        "step": 26,
    }

    lines = []
    result = run_lasnn(
        "digits", run_dir=run_dir, overrides=settings, stop_after="conversion", log=lines.append
    )
    assert result["status"] == "stopped" and result["stage"] == "conversion"
    assert any(" teacher] done already; skipped" in line for line in lines)
    assert any(" intermediate] resuming" in line for line in lines)
    assert teacher.stat().st_mtime_ns == teacher_mtime and teacher.read_bytes() == teacher_bytes
    # The resumed stage ends exactly where the uninterrupted one did.
    resumed, expected = (
        _state(run_dir / "intermediate" / "last.pt"),
        _state(reference / "intermediate" / "last.pt"),
    )
    assert resumed.keys() == expected.keys()
    assert all(torch.equal(resumed[k], expected[k]) for k in expected)
    history = [
        json.loads(x) for x in (run_dir / "intermediate" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["epoch"] for r in history] == [1, 2]
    assert (run_dir / "conversion" / "result.json").is_file()

    # The conversion sweep keeps its tallies per batch: one cut off after its last batch,
    # before its result was written, is not run again.
    converted = json.loads((run_dir / "conversion" / "result.json").read_text())
    tallies = torch.load(run_dir / "conversion" / "sweep_tallies.pt", weights_only=True)
    assert tallies["total"] == 360  # the digits test split, every batch counted
    (run_dir / "conversion" / "result.json").unlink()
    sweeps = []
    real = ConvertedSNN.run
    monkeypatch.setattr(ConvertedSNN, "run", lambda self, *a: sweeps.append(1) or real(self, *a))
    run_lasnn("digits", run_dir=run_dir, overrides=settings, stop_after="conversion", log=None)
    assert sweeps == []
    again = json.loads((run_dir / "conversion" / "result.json").read_text())
    assert again["timesteps"] == converted["timesteps"]


def test_extra_timesteps_train_every_student_again_at_each_t(tiny_run):
    """Reusing the tiny run's directory, ``extra_timesteps=[2]`` only adds the T=2
    students (everything else is skipped); their rows show, the verdicts stay at T=4."""
    run_dir = Path(tiny_run["run_dir"])
    lines: list[str] = []
    settings = [*TINY, "extra_timesteps=[2]", "only=[scratch, lasnn_activation]"]
    result = run_lasnn("digits", run_dir=run_dir, overrides=settings, log=lines.append)
    trained = [line for line in lines if " training " in line]
    assert [line.split("] ")[0].split()[-1] for line in trained] == [
        "students_T2/scratch/seed0", "students_T2/lasnn_activation/seed0",
    ]  # fmt: skip
    stage = json.loads((run_dir / "students_T2" / "scratch" / "seed0" / "result.json").read_text())
    assert stage["T"] == 2
    by_row = {r["row"]: r for r in result["rows"]}
    extra = by_row["student SNN from scratch (T=2)"]
    assert extra["T"] == 2 and extra["accuracy"] == stage["accuracy"] and extra["extra"]
    main = by_row["student SNN from scratch"]
    assert main["T"] == 4 and result["claims"]["lasnn_accuracy"] == max(
        by_row[r]["accuracy"] for r in by_row if r.startswith("LaSNN") and "(T=2)" not in r
    )
    with pytest.raises(ValueError, match="extra_timesteps must be distinct T >= 1 other than"):
        load_config("digits", overrides=["extra_timesteps=[4]"])
    # extra_seeds: only the first seeds train again at the extra T; the main T keeps all
    from spikeforge.pipelines.lasnn import LaSNNPipeline

    planned = ["seeds=3", "extra_timesteps=[2]", "extra_seeds=1", "only=[scratch]"]
    config = load_config("digits", overrides=planned, run_dir=run_dir.parent / "plan")
    stages = LaSNNPipeline(config, lambda line: None)
    assert list(stages.students) == [("scratch", 0), ("scratch", 1), ("scratch", 2)]
    assert list(stages.extra_students) == [(2, "scratch", 0)]
    with pytest.raises(ValueError, match=r"extra_seeds must be 1..seeds=3 \(or null: all\), got 4"):
        load_config("digits", overrides=["seeds=3", "extra_seeds=4"])


def test_run_dir_with_other_settings_is_refused(tmp_path):
    run_lasnn("digits", run_dir=tmp_path, overrides=TINY, stop_after="teacher", log=None)
    changed = [*TINY, "teacher.train.epochs=2"]
    with pytest.raises(ValueError, match=r"other settings \(train.epochs: 1 -> 2\)"):
        run_lasnn("digits", run_dir=tmp_path, overrides=changed, log=None)
    # knobs that do not change a result are free: device, progress, max_steps
    free = [*TINY, "teacher.train.progress=true", "teacher.train.device=cpu"]
    result = run_lasnn("digits", run_dir=tmp_path, overrides=free, stop_after="teacher", log=None)
    assert result["status"] == "stopped"


def test_config_errors_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"unknown config key teacher\.train\.epoch;"):
        run_lasnn("digits", overrides=["teacher.train.epoch=2"], run_dir=tmp_path, log=None)
    with pytest.raises(ValueError, match=r"unknown config section student\.epochs; valid: data"):
        load_config("digits", overrides=["student.epochs=1"])  # the old pipeline key
    with pytest.raises(ValueError, match=r"unknown config key converted\.neuronz"):
        load_config("digits", overrides=["converted.neuronz=if"])
    with pytest.raises(ValueError, match=r"lasnn_digits\.timesteps expects int, got 'x'"):
        load_config("digits", overrides=["timesteps=x"])
    with pytest.raises(ValueError, match="stop_after"):
        run_lasnn("digits", stop_after="students", log=None)
    # a mistake in a student's section fails before any stage trains
    bad = [*TINY, "variants.kd.config.train.epochs=abc"]
    with pytest.raises(ValueError, match=r"variants\.kd\.config\.train\.epochs expects int"):
        run_lasnn("digits", run_dir=tmp_path / "bad", overrides=bad, log=None)
    assert not (tmp_path / "bad").exists()
    # a student of its own model left on the students' hybrid method: refused up front
    # (it failed at the stage's first batch, after the teacher and conversion had run)
    own = [*TINY, "variants.finetune.init=own", "variants.finetune.config.model.name=csnn_tiny"]
    with pytest.raises(ValueError, match=r"students/finetune/seed0: train.method=hybrid trains "
                       r"model.name in \['converted'\], got model.name=csnn_tiny"):  # fmt: skip
        run_lasnn("digits", run_dir=tmp_path / "own", overrides=own, log=None)
    assert not (tmp_path / "own").exists()
    quick = load_config("digits", quick=True)
    assert quick.student["train"]["epochs"] < load_config("digits").student["train"]["epochs"]
    for dataset in ("mnist-small", "cifar10-small"):
        name = dataset.replace("-", "")
        assert load_config(dataset).base["data"]["name"].replace("-", "") == name


def test_cifar10_small_config_augments_the_teacher_and_students_not_the_intermediate(
    tmp_path,
):
    from spikeforge.pipelines.lasnn import LaSNNPipeline

    config = load_config("cifar10-small", run_dir=tmp_path)
    pipeline = LaSNNPipeline(config, lambda line: None)
    for stage in [pipeline.teacher, *pipeline.students.values()]:
        assert (stage.data.augment.crop_padding, stage.data.augment.flip) == (4, True)
    plain = pipeline.intermediate.data.augment  # it underfits: see the config's comment
    assert (plain.crop_padding, plain.flip) == (0, False)
    assert pipeline.intermediate.optim.lr == 0.01
    assert pipeline.teacher.data.name == "cifar10-small"


def test_cli_run_help_and_stop_after(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "lasnn", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--seeds" in out and "--quick" in out and "--run-dir" in out
    # overrides anywhere on the line: before, between and after the options
    args = ["run", "lasnn", *TINY[:2], "--dataset", "digits", *TINY[2:4]]
    args += ["--run-dir", str(tmp_path / "r"), *TINY[4:]]
    out_json = tmp_path / "out.json"
    assert main([*args, "--stop-after", "teacher", "--json", str(out_json)]) == 0
    assert "re-run to resume" in capsys.readouterr().out
    assert json.loads(out_json.read_text())["status"] == "stopped"
    assert main(["run", "lasnn", "teacher.nope=1", "--run-dir", str(tmp_path / "x")]) == 2
    assert main(["run", "nope", "--run-dir", str(tmp_path / "y")]) == 2
    assert "unknown pipeline 'nope'; registered: compare, lasnn" in capsys.readouterr().err


def test_cifar10_small_sweep_changes_one_setting_per_row_and_its_pairs_train(tmp_path):
    """The second-look sweep of issue #20: nine activation-attention rows of the converted
    student and three of the BatchNorm student, each differing from its family's default
    LaSNN row (lasnn_activation / lasnn_bn) in one setting; every row's pairs name real
    layers of the CIFAR teacher and its student, and one training step gives finite
    gradients to the student and none to the teacher."""
    from spikeforge.engine.build import build_model
    from spikeforge.methods.conversion.pipeline import convert
    from spikeforge.methods.distill import build_distillation
    from spikeforge.models import create
    from spikeforge.pipelines.lasnn import LaSNNPipeline

    sweep = load_config(path="lasnn_cifar10_small_sweep", run_dir=tmp_path, overrides=["seeds=2"])
    assert sweep.extra_timesteps == [] and len(sweep.only) == 12
    base = load_config("cifar10-small", run_dir=tmp_path)
    changed = {}
    for name in sweep.only:
        family = "lasnn_bn" if name.startswith("bn_") else "lasnn_activation"
        assert sweep.variants[name].init == base.variants[family].init, name
        assert sweep.variants[name].config.get("model") == base.variants[family].config.get(
            "model"
        ), name
        default = base.variants[family].config["distill"]
        distill = sweep.variants[name].config["distill"]
        diffs = [k for k in ("pairs", "teacher") if distill[k] != default[k]]
        diffs += [k for k in {*distill["options"], *default["options"]}
                  if distill["options"].get(k) != default["options"].get(k)]  # fmt: skip
        changed[name] = diffs
    assert changed == {"beta0p5": ["beta"], "beta8": ["beta"], "high_only": ["weights"],
                       "low_only": ["weights"], "membrane": ["student_features"],
                       "pre_relu": ["pairs"], "after_pool": ["pairs"], "p1": ["p"],
                       "no_kd": ["alpha"], "bn_beta0p5": ["beta"], "bn_beta0p1": ["beta"],
                       "bn_high_only": ["weights"]}  # fmt: skip
    # only the sweep's rows train (no T=2 copies); the stages' engine configs build
    stages = LaSNNPipeline(sweep, lambda line: None).students
    assert list(stages) == [(name, seed) for seed in (0, 1) for name in sweep.only]
    assert {stage.train.eval_every for stage in stages.values()} == {5}
    assert stages[("bn_beta0p1", 0)].train.epochs == 10  # the main run's student budget
    assert (stages[("beta0p5", 0)].train.method, stages[("beta0p5", 0)].optim.lr) == ("lasnn", 1e-3)
    torch.manual_seed(0)
    teacher = create("ann_vgg_small", num_classes=10, in_channels=3, input_size=32,
                     width_mult=2.0, batch_norm=True, bias=True).eval()  # fmt: skip
    intermediate = create("ann_vgg_small", num_classes=10, in_channels=3, input_size=32,
                          batch_norm=False, bias=False, pool="avg")  # fmt: skip
    x, y = torch.rand(2, 3, 3, 32, 32), torch.tensor([0, 1, 2])
    images = torch.utils.data.TensorDataset(torch.rand(2, 3, 32, 32), torch.tensor([0, 9]))
    images.labels = [0, 9]  # 10 classes, as cifar10-small
    for name in sweep.only:
        distill = sweep.variants[name].config["distill"]
        if name.startswith("bn_"):  # built from its stage config, as the pipeline does
            student = build_model(stages[(name, 0)], images)
            assert student.features[1].reset_mode == "subtract"
        else:
            student = convert(intermediate, torch.rand(8, 3, 32, 32), "max", neuron="if",
                              surrogate="triangle")  # fmt: skip
        method = build_distillation("lasnn", teacher, distill["pairs"], **distill["options"])
        terms = method(student, x, y)
        terms["loss"].backward()
        assert terms["at"] > 0, name
        grads = [p.grad for p in student.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), name
        assert all(p.grad is None for p in teacher.parameters())


def test_cifar10_small_batchnorm_students_build_and_distill_through_their_pairs(tmp_path):
    """The BatchNorm rows of lasnn_cifar10_small (scratch / response KD / LaSNN on the
    students' layers with BN): their stage configs name the spiking VGG-small with soft
    reset and a BPTT-family method (not the converted students' hybrid), and LaSNN's
    pairs name real layers: one step gives the student finite gradients."""
    from spikeforge.engine.build import build_model
    from spikeforge.methods.distill import build_distillation
    from spikeforge.models import create
    from spikeforge.pipelines.lasnn import LaSNNPipeline

    config = load_config("cifar10-small", run_dir=tmp_path)
    pipeline = LaSNNPipeline(config, lambda line: None)
    methods = {}
    for name in ("scratch_bn", "kd_bn", "lasnn_bn"):
        stage = pipeline.students[(name, 0)]
        assert stage.model.name == "spiking_vgg_small" and stage.data.timesteps == 4
        assert stage.model.neuron_kwargs == {"reset": "subtract"}
        methods[name] = stage.train.method
    assert methods == {"scratch_bn": "bptt", "kd_bn": "kd", "lasnn_bn": "lasnn"}
    # T=2 copies of the first seed only (extra_seeds: 1)
    assert {k for (_, _, k) in pipeline.extra_students} == {0}
    stage = pipeline.students[("lasnn_bn", 0)]
    images = torch.utils.data.TensorDataset(torch.rand(2, 3, 32, 32), torch.tensor([0, 9]))
    images.labels = [0, 9]  # 10 classes, as cifar10-small
    torch.manual_seed(0)
    student = build_model(stage, images)
    assert all(m.reset_mode == "subtract" for m in student.modules() if hasattr(m, "reset_mode"))
    teacher = create("ann_vgg_small", num_classes=10, in_channels=3, input_size=32,
                     width_mult=2.0, batch_norm=True, bias=True).eval()  # fmt: skip
    distill = config.variants["lasnn_bn"].config["distill"]
    method = build_distillation("lasnn", teacher, distill["pairs"], **distill["options"])
    terms = method(student, torch.rand(4, 3, 3, 32, 32), torch.tensor([0, 1, 2]))
    terms["loss"].backward()
    assert terms["at"] > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in student.parameters())


def test_report_only_before_the_teacher_has_finished_says_so_and_trains_nothing(tmp_path, capsys):
    from spikeforge.cli import main

    run_dir = tmp_path / "run"
    assert main(["run", "lasnn", "--run-dir", str(run_dir), "--report-only"]) == 0
    assert "nothing to report yet: stage teacher has not finished" in capsys.readouterr().out
    assert not (run_dir / "teacher").exists()
