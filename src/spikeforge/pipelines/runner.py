"""What every pipeline shares: its typed config, its run directory and resumable stages.

A pipeline is a sequence of stages, each an engine :class:`~spikeforge.engine.config.Config`
built by merging the pipeline's ``base`` section with the stage's own sections (plain
engine-config dicts, type-checked the moment they are merged), trained through the same
:func:`~spikeforge.engine.run.make_trainer` as ``spikeforge train`` — the one road from a
config to a trained network, teachers included.

Stage directories: ``RUN/<stage>/`` holds ``stage.yaml`` (the settings that decide its
result), the trainer's files and, once finished, ``result.json``. Resuming follows from
the files: a stage with ``result.json`` is skipped without touching a byte of it; one with
``last.pt`` resumes bit-exactly; one whose ``stage.yaml`` differs from the settings asked
for now is refused (the run directory belongs to other settings) — knobs that do not
change a result (device, progress, ``max_steps``, ``checkpoint_every``, where the data
lie, where the run directory lies) are left out of that comparison.

``report_only=true`` (``spikeforge run ... --report-only``) trains nothing: the table and
report are built from the stages finished so far (status ``"partial"``, the unfinished
stages listed under ``missing``), a look at a long run while it still runs elsewhere.
"""

from __future__ import annotations

import copy
import json
import time
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
import yaml
from omegaconf import OmegaConf
from torch.utils.data import Dataset

from ..data import sample_indices
from ..engine.build import build_datasets
from ..engine.config import Config, find_config, load_structured, read_yaml
from ..engine.distill import check_method_model
from ..engine.interrupts import TrainingInterruptedError, deferred_interrupts
from ..engine.run import make_trainer
from ..engine.trainer import Trainer

P = TypeVar("P", bound="PipelineConfig")

# Engine-config keys that do not change a stage's result.
FREE_KEYS = {
    # train.memory: gradients are bit-identical in every mode (tests/test_layers_memory.py)
    "train": (
        "progress",
        "device",
        "max_steps",
        "checkpoint_every",
        "tensorboard",
        "run_dir",
        "memory",
        "eval_every",  # evaluations do not touch training (tests/test_engine_trainer.py)
    ),
    "data": ("data_dir", "eval_batch_size"),
}


@dataclass
class PipelineConfig:
    """The part of every pipeline's config (pipelines extend it with their stages).

    ``base`` is the engine config that every stage starts from; ``quick`` lists the
    ``key=value`` overrides that ``--quick`` applies (a few-minute run); ``report_only``:
    train nothing, report the stages finished so far (see the module docstring).
    """

    pipeline: str = ""
    seed: int = 0
    seeds: int = 1
    run_dir: str | None = None
    base: dict[str, Any] = field(default_factory=dict)
    quick: list[str] = field(default_factory=list)
    report_only: bool = False


def read_with_parents(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A pipeline YAML; one with ``extends: NAME`` is merged over that config (a shipped
    name or a path), e.g. to add variants and run ``only`` those."""
    data = read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    parent_path = find_config(str(parent))
    if parent_path.resolve() in seen:
        raise ValueError(f"{path}: extends {parent!r} in a cycle")
    base = read_with_parents(parent_path, (*seen, path.resolve()))
    merged = OmegaConf.merge(OmegaConf.create(base), OmegaConf.create(data))
    return typing.cast(dict, OmegaConf.to_container(merged))


def load_pipeline_config(
    schema: type[P],
    path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    quick: bool = False,
    run_dir: str | Path | None = None,
    default_run_dir: Callable[[P, bool], Path] | None = None,
) -> P:
    """The pipeline config: the YAML file, its ``quick`` overrides when asked, then the
    command line's, merged and type-checked against ``schema``; ``run_dir`` is settled
    (given, the config's, or ``default_run_dir(config, quick)``) before ``${run_dir}``
    references resolve."""
    path = find_config(path)
    data = read_with_parents(path)
    first = load_structured(schema, data, overrides=list(overrides), where=path.stem)
    extra = list(first.quick) if quick else []
    settled = load_structured(schema, data, overrides=[*extra, *overrides], where=path.stem)
    chosen = run_dir or settled.run_dir
    if chosen is None:
        chosen = default_run_dir(settled, quick) if default_run_dir else Path("runs") / path.stem
    return load_structured(
        schema, data, overrides=[*extra, *overrides, f"run_dir={chosen}"], where=path.stem
    )


def write_json(path: Path, data: Any) -> None:
    """``data`` as JSON at ``path``, written atomically (a temporary, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=float))
    tmp.replace(path)  # atomic: a result file is complete or absent


def _relative(value: Any, run_dir: Path) -> Any:
    """``value`` with the run directory written as ``{run}`` in every string."""
    if isinstance(value, str):
        return value.replace(str(run_dir), "{run}")
    if isinstance(value, dict):
        return {k: _relative(v, run_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, run_dir) for v in value]
    return value


def _comparable(settings: Mapping[str, Any], run_dir: Path) -> Any:
    """``settings`` without the free keys, the run directory written as ``{run}``."""
    out = copy.deepcopy(dict(settings))
    for section, keys in FREE_KEYS.items():
        if isinstance(out.get(section), dict):
            for key in keys:
                out[section].pop(key, None)
    if isinstance(out.get("train"), dict):
        out["train"].pop("run_name", None)
    return _relative(out, run_dir)


def _final_metrics(trainer: Trainer) -> dict[str, Any]:
    """The trained model's test metrics: the record of its last epoch, which the trainer
    always evaluates (a second evaluation of the same model would give the same numbers
    at the cost of a pass over the test set), else a fresh :meth:`Trainer.evaluate`."""
    last = trainer.history[-1] if trainer.history else {}
    if last.get("epoch") != trainer.position.epoch or "test_loss" not in last:
        return trainer.evaluate(trainer.test_set)
    rates = last.get("firing_rates", {})
    return {"loss": last["test_loss"], "accuracy": last.get("test_acc"), "firing_rates": rates}


_ABSENT = object()


def _differences(old: Any, new: Any, defaults: Any = None, where: str = "") -> list[str]:
    """Changed settings, as ``"path: old -> new"``. A key the saved settings lack (a stage
    directory from before that option existed) counts as unchanged when the new value is
    the option's default in ``defaults`` (nested like the settings)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            default = defaults.get(key, _ABSENT) if isinstance(defaults, dict) else _ABSENT
            if key not in old and default is not _ABSENT and new.get(key) == default:
                continue
            path = f"{where}.{key}" if where else key
            out += _differences(old.get(key), new.get(key), default, path)
        return out
    return [] if old == new else [f"{where}: {old!r} -> {new!r}"]


def _with_train_seconds(result: dict[str, Any], directory: Path) -> dict[str, Any]:
    """A stage result from before ``train_seconds`` was recorded gets it from the stage's
    ``metrics.jsonl`` (its last epoch's ``seconds``: the same number), when it has one."""
    log = directory / "metrics.jsonl"
    if "train_seconds" in result or not log.is_file():
        return result
    lines = log.read_text().splitlines()
    last = json.loads(lines[-1]) if lines else {}
    return {**result, "train_seconds": last.get("seconds")} if "seconds" in last else result


@dataclass
class PipelineRun:
    """One pipeline run: its directory, stages, shared datasets and log lines."""

    name: str
    run_dir: Path
    log: Callable[[str], None] = print
    _datasets: dict[str, tuple[Dataset, Dataset]] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    stage_count: int = 0
    stage_total: int | None = None
    report_only: bool = False  # train nothing; unfinished stages go to `missing`
    missing: list[str] = field(default_factory=list)

    # -- stage bookkeeping --------------------------------------------------------------
    def stage_dir(self, stage: str) -> Path:
        return self.run_dir / stage

    def _announce(self, stage: str, what: str) -> None:
        self.stage_count += 1
        total = f"/{self.stage_total}" if self.stage_total else ""
        elapsed = time.perf_counter() - self.started
        timing = f"{elapsed:.0f} s"
        done, left = self.stage_count - 1, (self.stage_total or 0) - self.stage_count + 1
        if done and left > 0 and elapsed > 0:  # a rough ETA: stages differ in length
            timing += f", ETA ~{elapsed / done * left:.0f} s"
        self.log(f"[{self.name} {self.stage_count}{total} {stage}] {what} ({timing})")

    def claim(
        self,
        stage: str,
        settings: Mapping[str, Any],
        defaults: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Check ``settings`` against the stage's ``stage.yaml`` (writing it when absent);
        the stage's result if it finished already. ``defaults``: the settings' default
        values, so that an option added since the stage ran, left at its default, is no
        change."""
        directory = self.stage_dir(stage)
        path = directory / "stage.yaml"
        if path.is_file():
            saved = yaml.safe_load(path.read_text()) or {}
            changed = _differences(
                _comparable(saved, self.run_dir),
                _comparable(settings, self.run_dir),
                dict(defaults) if defaults is not None else None,
            )
            if changed:
                raise ValueError(
                    f"{directory} was run with other settings ({'; '.join(changed[:4])}); "
                    "choose another --run-dir or delete that stage's directory"
                )
        result_path = directory / "result.json"
        if result_path.is_file():
            return _with_train_seconds(json.loads(result_path.read_text()), directory)
        if not path.is_file() and not self.report_only:
            directory.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            # paths inside the run directory as {run}: a moved run directory still matches
            relative = _relative(dict(settings), self.run_dir)
            tmp.write_text(yaml.safe_dump(relative, sort_keys=False))
            tmp.replace(path)
        return None

    def _left_out(self, stage: str) -> None:
        self.missing.append(stage)
        self._announce(stage, "not finished; left out of the report (report_only)")

    def status(self) -> str:
        """``"complete"``, or ``"partial"`` when ``report_only`` left stages out."""
        return "partial" if self.missing else "complete"

    def finish(self, stage: str, result: dict[str, Any]) -> dict[str, Any]:
        write_json(self.stage_dir(stage) / "result.json", result)
        return result

    # -- engine configs and data --------------------------------------------------------
    def engine_config(self, stage: str, *layers: Mapping[str, Any] | None) -> Config:
        """``layers`` merged into one engine config (type-checked; errors name the stage),
        with the stage directory as its run directory."""
        directory = self.stage_dir(stage)
        placement = {"train": {"run_dir": str(directory.parent), "run_name": directory.name}}
        config = load_structured(
            Config, *[dict(layer) for layer in layers if layer], placement, where=stage
        )
        try:
            check_method_model(config)
        except ValueError as exc:
            raise ValueError(f"{stage}: {exc}") from None
        return config

    def datasets(self, config: Config) -> tuple[Dataset, Dataset]:
        """``(train, test)`` of ``config.data``, loaded once per distinct data section."""
        key = json.dumps(
            {k: v for k, v in vars(config.data).items() if k not in ("timesteps",)},
            sort_keys=True,
            default=str,
        )
        if key not in self._datasets:
            self._datasets[key] = build_datasets(config)
        return self._datasets[key]

    def test_images(self, config: Config, count: int) -> torch.Tensor:
        """A seeded random sample of ``count`` test inputs ``[count, ...]`` (energy)."""
        test_set = self.datasets(config)[1]
        indices = sample_indices(len(test_set), min(count, len(test_set)))
        return torch.stack([test_set[int(i)][0] for i in indices])

    # -- stages -------------------------------------------------------------------------
    def train(
        self,
        stage: str,
        config: Config,
        summary: Callable[[Trainer, dict[str, Any]], dict[str, Any]] | None = None,
    ) -> dict[str, Any] | None:
        """Train (or resume, or skip) one stage; its result, or ``None`` if it stopped
        before its last epoch (``max_steps``)."""
        done = self.claim(stage, config.to_dict(), defaults=Config().to_dict())
        if done is not None:
            self._announce(stage, "done already; skipped")
            return done
        if self.report_only:
            return self._left_out(stage)
        directory = self.stage_dir(stage)
        resume = (directory / "last.pt").is_file()
        self._announce(stage, f"{'resuming' if resume else 'training'} {config.model.name}")
        # Signals wait for the stage's result (engine.interrupts): the trainer stops at its
        # safe points; a signal after its last one stops the pipeline once the result is
        # written, instead of landing in the stage change's clean-up and being lost.
        with deferred_interrupts() as request:
            trainer, result = self._train_stage(stage, config, summary, directory, resume)
        if request.requested:
            position = trainer.position
            raise TrainingInterruptedError(directory, position.epoch, position.step, request.name)
        return result

    def _train_stage(
        self,
        stage: str,
        config: Config,
        summary: Callable[[Trainer, dict[str, Any]], dict[str, Any]] | None,
        directory: Path,
        resume: bool,
    ) -> tuple[Trainer, dict[str, Any] | None]:
        trainer = make_trainer(config, directory, datasets=self.datasets(config))
        trainer.fit(resume=resume)
        finished = trainer.position.epoch >= config.train.epochs
        patience = config.train.early_stopping_patience
        if not finished and not (
            patience is not None and trainer.epochs_without_improvement >= patience
        ):
            self.log(f"[{self.name} {stage}] interrupted at epoch {trainer.position.epoch + 1}")
            return trainer, None
        metrics = _final_metrics(trainer)
        result: dict[str, Any] = {
            "model": config.model.name,
            "method": config.train.method,
            "seed": config.train.seed,
            "T": config.data.timesteps,
            "accuracy": metrics["accuracy"],
            "best_accuracy": trainer.best_accuracy,
            "epochs": trainer.position.epoch,
            # wall seconds of the stage's training, evaluations included, over all resumes
            "train_seconds": trainer.history[-1]["seconds"] if trainer.history else None,
            "layer_firing_rates": metrics["firing_rates"],
            "history": [
                {  # no test_acc for a method without classes (masked-image pretraining),
                    # no test metrics for an epoch train.eval_every skipped
                    "epoch": r["epoch"],
                    "test_acc": r.get("test_acc"),
                    "test_loss": r.get("test_loss"),
                    "train_loss": r.get("train_loss"),
                }
                for r in trainer.history
            ],
            "parameters": sum(p.numel() for p in trainer.model.parameters()),
            "checkpoint": str(directory / "last.pt"),
        }
        if summary is not None:
            result.update(summary(trainer, result))
        if result["accuracy"] is not None:
            self.log(f"[{self.name} {stage}] test accuracy {result['accuracy']:.4f}")
        else:  # a method without classes (masked-image pretraining)
            self.log(f"[{self.name} {stage}] test loss {metrics['loss']:.4f}")
        return trainer, self.finish(stage, result)

    def compute(
        self, stage: str, settings: Mapping[str, Any], work: Callable[[], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """A stage that trains nothing (a conversion sweep): ``work()`` once, cached
        (``None`` under ``report_only`` when it has not run)."""
        done = self.claim(stage, settings)
        if done is not None:
            self._announce(stage, "done already; skipped")
            return done
        if self.report_only:
            return self._left_out(stage)
        self._announce(stage, "running")
        return self.finish(stage, work())
