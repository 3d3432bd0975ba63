"""What every pipeline shares (``pipelines/runner.py``): per-stage settings claimed in
``stage.yaml`` (refused when they change, free keys and the run directory's location
aside), cached stage results, ``extends:`` configs, and the stage's engine config and data.
Training a stage end to end (resume, skip) is exercised in ``test_pipelines_lasnn.py``."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
import yaml

from spikeforge.engine.config import find_config, read_yaml
from spikeforge.pipelines.runner import (
    FREE_KEYS,
    PipelineConfig,
    PipelineRun,
    load_pipeline_config,
    read_with_parents,
)


def _settings(root: Path, /, **train) -> dict:
    """Stage settings with a path inside the run directory ``root``."""
    return {
        "data": {"name": "digits", "batch_size": 64, "data_dir": "/data/a"},
        "model": {"name": "converted", "kwargs": {"checkpoint": f"{root}/teacher/last.pt"}},
        "train": {"epochs": 1, "progress": False, "device": "cpu", **train},
    }


def _run(run_dir: Path, lines: list[str] | None = None) -> PipelineRun:
    return PipelineRun("test", run_dir, log=(lines.append if lines is not None else lambda s: None))


def test_the_first_claim_writes_the_settings(tmp_path):
    run = _run(tmp_path / "run")
    settings = _settings(run.run_dir)
    assert run.claim("stage", settings) is None
    path = tmp_path / "run" / "stage" / "stage.yaml"
    saved = yaml.safe_load(path.read_text())
    # paths inside the run directory are written relative to it ({run})
    assert saved["model"]["kwargs"]["checkpoint"] == "{run}/teacher/last.pt"
    saved["model"]["kwargs"]["checkpoint"] = settings["model"]["kwargs"]["checkpoint"]
    assert saved == settings
    assert list(path.parent.iterdir()) == [path]  # written through a temporary, now gone
    assert run.claim("stage", settings) is None  # the same settings: claimed again, no result


def test_changed_settings_are_refused_naming_the_keys(tmp_path):
    run = _run(tmp_path)
    run.claim("stage", _settings(tmp_path, epochs=1, seed=0))
    with pytest.raises(ValueError) as info:
        run.claim("stage", _settings(tmp_path, epochs=2, seed=5))
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'stage'} was run with other settings (")
    assert "train.epochs: 1 -> 2; train.seed: 0 -> 5" in message
    assert "choose another --run-dir or delete that stage's directory" in message
    with pytest.raises(
        ValueError, match=r"model.kwargs.checkpoint: '\{run\}/teacher/last.pt' -> 'x'"
    ):
        changed = _settings(tmp_path)
        changed["model"]["kwargs"]["checkpoint"] = "x"
        run.claim("stage", changed)


def test_free_keys_do_not_count(tmp_path):
    run = _run(tmp_path)
    run.claim("stage", _settings(tmp_path))
    free = _settings(tmp_path, progress=True, device="cuda", max_steps=26, checkpoint_every=1,
                     tensorboard=True, run_dir="/elsewhere", run_name="other",
                     eval_every=5)  # fmt: skip
    free["data"] |= {"data_dir": "/data/b", "eval_batch_size": 7}
    assert run.claim("stage", free) is None
    assert set(FREE_KEYS) == {"train", "data"} and "device" in FREE_KEYS["train"]


def test_an_option_added_since_the_stage_ran_counts_only_when_not_at_its_default(tmp_path):
    """A stage directory written before ``data.augment`` existed resumes when the option
    is left at its default, and is refused when it is turned on."""
    run = _run(tmp_path)
    run.claim("stage", _settings(tmp_path))  # the old settings: no "augment" key
    defaults = {"data": {"augment": {"crop_padding": 0, "flip": False}}}
    later = _settings(tmp_path)
    later["data"]["augment"] = {"crop_padding": 0, "flip": False}
    assert run.claim("stage", later, defaults=defaults) is None
    later["data"]["augment"] = {"crop_padding": 4, "flip": True}
    with pytest.raises(ValueError, match=r"data.augment: None -> \{'crop_padding': 4"):
        run.claim("stage", later, defaults=defaults)
    with pytest.raises(ValueError, match="data.augment"):  # without defaults: a change
        run.claim("stage", _settings(tmp_path) | {"data": later["data"]})
    assert "memory" in FREE_KEYS["train"]  # bit-identical gradients in every mode


def test_a_moved_run_directory_keeps_its_claims(tmp_path):
    old = tmp_path / "old"
    _run(old).claim("stage", _settings(old))
    new = tmp_path / "moved" / "new"
    shutil.copytree(old, new)
    # the checkpoint path now names the new location: the same setting
    assert _run(new).claim("stage", _settings(new)) is None


def test_a_finished_stage_returns_its_result_without_running_again(tmp_path):
    lines: list[str] = []
    run = _run(tmp_path, lines)
    run.stage_total = 3
    calls = []

    def work() -> dict:
        calls.append(1)
        return {"accuracy": 0.5, "T": [4, 8]}

    settings = {"sweep": [4, 8]}
    assert run.compute("conversion", settings, work) == {"accuracy": 0.5, "T": [4, 8]}
    saved = json.loads((tmp_path / "conversion" / "result.json").read_text())
    assert saved == {"accuracy": 0.5, "T": [4, 8]}
    before = (tmp_path / "conversion" / "result.json").stat().st_mtime_ns
    assert run.compute("conversion", settings, work) == saved
    assert calls == [1]
    assert (tmp_path / "conversion" / "result.json").stat().st_mtime_ns == before
    assert lines[0].startswith("[test 1/3 conversion] running (")
    assert lines[1].startswith("[test 2/3 conversion] done already; skipped (")
    assert run.claim("conversion", settings) == saved
    with pytest.raises(ValueError, match=r"\(sweep: \[4, 8\] -> \[4, 16\]\)"):
        run.compute("conversion", {"sweep": [4, 16]}, work)


def test_a_result_from_before_train_seconds_gets_them_from_its_metrics_log(tmp_path):
    run = _run(tmp_path)
    settings = {"sweep": [4]}
    run.compute("stage", settings, lambda: {"accuracy": 0.5})
    assert run.claim("stage", settings) == {"accuracy": 0.5}  # no log: nothing to add
    log = tmp_path / "stage" / "metrics.jsonl"
    log.write_text('{"epoch": 1, "seconds": 12.5}\n{"epoch": 2, "seconds": 30.25}\n')
    assert run.claim("stage", settings) == {"accuracy": 0.5, "train_seconds": 30.25}
    saved = json.loads((tmp_path / "stage" / "result.json").read_text())
    assert saved == {"accuracy": 0.5}  # read, not rewritten
    run.finish("stage", {"accuracy": 0.5, "train_seconds": 99.0})
    assert run.claim("stage", settings)["train_seconds"] == 99.0  # recorded: kept


def _yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_read_with_parents_merges_extends_chains(tmp_path):
    base = _yaml(tmp_path / "base.yaml", {"a": 1, "nested": {"x": 1, "y": 2}, "keep": "base"})
    middle = _yaml(tmp_path / "mid.yaml", {"extends": str(base), "nested": {"y": 3}, "b": 2})
    top = _yaml(tmp_path / "top.yaml", {"extends": str(middle), "a": 9})
    assert read_with_parents(top) == {"a": 9, "nested": {"x": 1, "y": 3}, "keep": "base", "b": 2}
    assert read_with_parents(base) == read_yaml(base)


def test_read_with_parents_of_a_shipped_parent_and_cycles(tmp_path):
    child = _yaml(tmp_path / "c.yaml", {"extends": "lasnn_digits", "seeds": 7})
    merged = read_with_parents(child)
    parent = read_yaml(find_config("lasnn_digits"))
    assert merged["seeds"] == 7 and merged["pipeline"] == parent["pipeline"] == "lasnn"
    assert merged["teacher"] == parent["teacher"]
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    _yaml(a, {"extends": str(b)})
    _yaml(b, {"extends": str(a)})
    with pytest.raises(ValueError, match="extends .* in a cycle"):
        read_with_parents(a)


@dataclass
class _Schema(PipelineConfig):
    steps: int = 10
    out: str = "${run_dir}/out"
    extra: dict = field(default_factory=dict)


def test_load_pipeline_config_applies_quick_then_overrides_and_settles_run_dir(tmp_path):
    path = _yaml(tmp_path / "p.yaml", {"pipeline": "t", "quick": ["steps=2", "seed=3"]})
    plain = load_pipeline_config(_Schema, path)
    assert (plain.steps, plain.seed) == (10, 0)
    assert plain.run_dir == str(Path("runs") / "p") and plain.out == f"{plain.run_dir}/out"
    quick = load_pipeline_config(_Schema, path, ["seed=4"], quick=True, run_dir=tmp_path / "r")
    assert (quick.steps, quick.seed) == (2, 4)  # the command line wins over quick
    assert quick.run_dir == str(tmp_path / "r") and quick.out == f"{tmp_path / 'r'}/out"
    chosen = load_pipeline_config(
        _Schema, path, quick=True, default_run_dir=lambda c, q: Path(f"runs/s{c.steps}-{q}")
    )
    assert chosen.run_dir == "runs/s2-True"
    own = _yaml(tmp_path / "own.yaml", {"run_dir": "mine"})
    assert (
        load_pipeline_config(_Schema, own, default_run_dir=lambda c, q: Path("x")).run_dir == "mine"
    )
    with pytest.raises(ValueError, match="steps"):
        load_pipeline_config(_Schema, path, ["steps=many"])


def test_engine_config_merges_layers_into_the_stage_directory(tmp_path):
    run = _run(tmp_path)
    config = run.engine_config(
        "students/kd/seed0",
        {"data": {"name": "digits"}, "train": {"epochs": 3}},
        None,
        {"train": {"epochs": 5, "seed": 1}},
    )
    assert (config.train.epochs, config.train.seed, config.data.name) == (5, 1, "digits")
    assert config.train.run_dir == str(tmp_path / "students" / "kd")
    assert config.train.run_name == "seed0"
    with pytest.raises(ValueError, match="students/kd/seed0"):
        run.engine_config("students/kd/seed0", {"train": {"epochs": "many"}})


def test_datasets_are_loaded_once_per_data_section_and_test_images_are_seeded(tmp_path):
    run = _run(tmp_path)
    four = run.engine_config("a", {"data": {"name": "digits", "timesteps": 4}})
    eight = run.engine_config("b", {"data": {"name": "digits", "timesteps": 8}})
    assert run.datasets(four) is run.datasets(eight)  # T does not change the data
    other = run.engine_config("c", {"data": {"name": "digits", "batch_size": 8}})
    assert run.datasets(other) is not run.datasets(four)
    images = run.test_images(four, 16)
    assert images.shape == (16, 1, 8, 8)
    assert torch.equal(images, run.test_images(eight, 16))
    test_set = run.datasets(four)[1]
    assert run.test_images(four, 10**6).shape[0] == len(test_set)
