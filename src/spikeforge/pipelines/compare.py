r"""Models side by side over seeds: ``spikeforge run compare --config NAME`` (or
:func:`run_compare`) trains every variant of a config at every seed and prints one table.

A compare config (``configs/compare_<name>.yaml``) has ``base`` (an engine config:
data, optimiser, training budget — what every row shares) and ``variants``, each a label
and the engine-config sections it adds (usually its ``model``, and whatever else differs,
e.g. the objective). Variants are merged over ``base`` key by key, so a section that
differs between rows (a model's ``kwargs``) belongs in each variant, not in ``base``.

Stages: ``RUN/<variant>/seed<k>/`` for every seed ``seed, seed+1, …`` and variant (seeds
outer, so that an interrupted run has whole seeds of every row first), each trained by
the engine's trainer with stage-level resume (:mod:`.runner`). Per stage: test accuracy
after the last epoch, the best epoch's, the trainable parameter count, the training wall
time, and — on a seeded sample of ``energy_samples`` test inputs encoded as in training —
the firing rate of the spiking layers and the energy per inference (45 nm, 0.9 pJ per
accumulate, 4.6 pJ per multiply-accumulate; :func:`~spikeforge.analysis.inference.
measure_inference`).

The table (``RUN/results.json``, ``results.md``, ``report.html``): one row per variant,
accuracy mean ± std over seeds and every seed's value. No verdicts: which difference
matters is the reader's question; the std says what the seeds spread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..analysis.inference import measure_inference
from ..engine.config import Config, load_structured
from .runner import PipelineConfig, PipelineRun, load_pipeline_config
from .table import accuracy_cell, fmt, markdown, mean_std, seed_row, write_outputs

HEADER = ("model", "T", "accuracy", "best-epoch accuracy", "firing rate", "energy (µJ)",
          "parameters", "train s", "seeds")  # fmt: skip


@dataclass
class CompareVariant:
    """One row: its label and the engine-config sections it merges over ``base``."""

    label: str = ""
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class CompareConfig(PipelineConfig):
    """``configs/compare_<name>.yaml``; see the module docstring."""

    pipeline: str = "compare"
    energy_samples: int = 256
    variants: dict[str, CompareVariant] = field(default_factory=dict)
    only: list[str] = field(default_factory=list)  # variants to run (empty: all)


def default_run_dir(config: CompareConfig, quick: bool) -> Path:
    dataset = str(config.base.get("data", {}).get("name", "data"))
    names = "-".join(config.only or config.variants)
    return Path("runs") / f"compare-{dataset}-{names}{'-quick' if quick else ''}"


def load_config(
    dataset: str = "trevsnn_digits",
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    quick: bool = False,
    run_dir: str | Path | None = None,
) -> CompareConfig:
    """The pipeline config (``compare_<dataset>`` by default), checked."""
    config = load_pipeline_config(
        CompareConfig,
        path if path is not None else f"compare_{dataset.replace('-', '_')}",
        list(overrides),
        quick,
        run_dir,
        default_run_dir,
    )
    if not config.variants:
        raise ValueError("a compare config needs at least one entry under variants")
    if config.energy_samples < 1:
        raise ValueError(f"energy_samples must be >= 1, got {config.energy_samples}")
    load_structured(Config, config.base, where="base")
    for name, variant in config.variants.items():
        load_structured(Config, variant.config, where=f"variants.{name}.config")
    unknown = [n for n in config.only if n not in config.variants]
    if unknown:
        raise ValueError(
            f"only names unknown variants {unknown}; variants: {list(config.variants)}"
        )
    return config


class ComparePipeline:
    """Every stage's engine config, built (and so checked) before anything trains."""

    def __init__(self, config: CompareConfig, log: Callable[[str], None]) -> None:
        self.config = c = config
        self.run = PipelineRun(
            "compare", Path(str(config.run_dir)), log, report_only=config.report_only
        )
        names = c.only or list(c.variants)
        self.stages: dict[tuple[str, int], Config] = {}
        for seed in range(c.seed, c.seed + c.seeds):
            for name in names:
                self.stages[name, seed] = self.run.engine_config(
                    f"{name}/seed{seed}", c.base, c.variants[name].config, {"train": {"seed": seed}}
                )
        self.run.stage_total = len(self.stages)

    def summary(self, trainer: Any, result: dict[str, Any]) -> dict[str, Any]:
        """Firing rate and energy on the seeded test sample, encoded as in training."""
        images = self.run.test_images(trainer.config, self.config.energy_samples)
        inputs = trainer.encode(images, torch.Generator().manual_seed(self.config.seed))
        measured = measure_inference(trainer.model, inputs)
        seconds = trainer.history[-1]["seconds"] if trainer.history else None
        return {**measured, "train_seconds": seconds}

    def execute(self) -> dict[str, Any]:
        c, run = self.config, self.run
        result: dict[str, Any] = {
            "dataset": c.base.get("data", {}).get("name"),
            "seeds": c.seeds,
            "run_dir": str(run.run_dir),
        }
        finished: dict[str, list[dict[str, Any]]] = {}
        for (name, seed), config in self.stages.items():
            stage = f"{name}/seed{seed}"
            r = run.train(stage, config, self.summary)
            if r is None and run.report_only:
                continue
            if r is None:
                return {**result, "status": "interrupted", "stage": stage}
            finished.setdefault(name, []).append(r)
        rows = table_rows(c, finished)
        result.update(
            status=run.status(), stage="done", missing=run.missing, rows=rows,
            seconds=round(time.perf_counter() - run.started, 1),
        )  # fmt: skip
        report = {
            "title": f"Compared on {result['dataset']} ({c.seeds} seeds)",
            "meta": {"dataset": result["dataset"], "seeds": c.seeds, "run": str(run.run_dir)},
            "tables": {
                "comparison": [dict(zip(HEADER, _cells(r), strict=True)) for r in rows],
            },
        }
        write_outputs(run.run_dir, result, format_table(result), report)
        return result


def table_rows(
    config: CompareConfig, finished: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """One row per variant that finished, in config order."""
    rows = []
    for name, variant in config.variants.items():
        results = finished.get(name)
        if results:
            rows.append(
                seed_row(
                    variant.label or name,
                    results,
                    variant=name,
                    best_accuracy=mean_std([r.get("best_accuracy") for r in results])[0],
                    parameters=results[0].get("parameters"),
                    train_seconds=mean_std([r.get("train_seconds") for r in results])[0],
                )
            )
    return rows


def _cells(row: dict[str, Any]) -> list[str]:
    seconds = row.get("train_seconds")
    return [row["row"], str(row["T"]), accuracy_cell(row), fmt(row.get("best_accuracy")),
            fmt(row["firing_rate"]), fmt(row.get("energy_uj"), 3), str(row.get("parameters")),
            "-" if seconds is None else f"{seconds:.0f}", str(row["seeds"])]  # fmt: skip


def format_table(result: dict[str, Any]) -> str:
    """The comparison as a Markdown table, then every seed's accuracy per row."""
    rows = result.get("rows", [])
    text = markdown(HEADER, [_cells(r) for r in rows], numeric_from=1)
    for r in rows:
        text += f"\n{r['row']}: " + " / ".join(f"{a:.4f}" for a in r["accuracies"])
    return text


def run_compare(
    dataset: str = "trevsnn_digits",
    *,
    config: str | Path | None = None,
    run_dir: str | Path | None = None,
    timesteps: int | None = None,
    seeds: int | None = None,
    quick: bool = False,
    overrides: Iterable[str] = (),
    stop_after: str | None = None,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Run (or resume) a comparison; returns the result (``status``, ``rows``, ...).

    Args:
        dataset: picks the config ``compare_<dataset>`` when ``config`` is not given.
        config: a pipeline YAML path or shipped config name.
        run_dir: where every stage lives; re-run with the same directory to resume.
        timesteps: every row at this T: ``base.data.timesteps``, and
            ``model.kwargs.timesteps`` of the variants that set one (T-RevSNN's columns).
        seeds: seeds ``seed, seed+1, ...`` per variant.
        quick: apply the config's ``quick`` overrides.
        overrides: ``"base.train.epochs=2"``-style changes of the pipeline config.
        stop_after: not used (one kind of stage); must be ``None``.
    """
    if stop_after is not None:
        raise ValueError(
            f"compare has one kind of stage: stop_after must be None, got {stop_after!r}"
        )
    extra = list(overrides)
    if timesteps is not None:
        extra.append(f"base.data.timesteps={int(timesteps)}")
    if seeds is not None:
        extra.append(f"seeds={int(seeds)}")
    cfg = load_config(dataset, config, extra, quick, run_dir)
    if timesteps is not None:
        # rows whose model has a T of its own (T-RevSNN's columns) follow the data's T
        for variant in cfg.variants.values():
            kwargs = variant.config.get("model", {}).get("kwargs", {})
            if "timesteps" in kwargs:
                kwargs["timesteps"] = int(timesteps)
    return ComparePipeline(cfg, log or (lambda _: None)).execute()
