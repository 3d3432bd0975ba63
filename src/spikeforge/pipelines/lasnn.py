r"""The three-stage LaSNN pipeline (Hong et al., 2023; METHODS §7.3) as one resumable run.

``spikeforge run lasnn --dataset digits`` (or :func:`run_lasnn`), every stage an engine
config (``configs/lasnn_<dataset>.yaml``: ``base`` merged with the stage's sections):

1. **teacher** — the large teacher ANN (BN and bias), ``RUN/teacher/``;
2. **intermediate** — the small intermediate ANN (no bias, no BN, average pool),
   ``RUN/intermediate/``; then **conversion** — the model ``converted`` (``V_th`` = max
   ReLU activation on calibration data) and its accuracy vs T, ``RUN/conversion/``;
3. **students** — every variant at the small T, per seed, in
   ``RUN/students/<variant>/seed<k>/``: ``student`` merged with the variant's ``config``
   and, by ``init``, the converted model (``converted``), the same architecture freshly
   initialised (``random``) or the variant's own model (``own``). A distilling variant
   names its teacher in its ``distill`` section (``${run_dir}/teacher/last.pt``) and
   reaches it by the same road as ``spikeforge train``. With ``extra_timesteps`` every
   variant and seed (the first ``extra_seeds`` seeds, if set) trains again at each of
   those T, afterwards, in
   ``RUN/students_T<T>/<variant>/seed<k>/`` (rows of their own; the verdicts compare
   the students at the main T).

It ends with one comparison table (accuracy, T, firing rate, energy per inference in µJ
from :func:`~spikeforge.analysis.measure_inference` on a seeded sample of test images),
written to ``RUN/results.json``, ``RUN/results.md`` and ``RUN/report.html``; the report
also draws the run's story (:mod:`.lasnn_report`: accuracy vs T, accuracy vs energy,
training curves, teacher vs student attention maps, per-layer firing rates), saved as
``RUN/figures/*.png`` and ``*.pdf`` too when matplotlib is installed. Resuming,
stage by stage, is :mod:`.runner`'s; ``stop_after`` ends the run after ``"teacher"``,
``"intermediate"`` or ``"conversion"``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analysis.inference import measure_inference
from ..engine.build import build_model
from ..engine.config import Config, ModelConfig, load_structured
from ..methods.conversion.evaluate import accuracy_vs_timesteps
from .lasnn_report import (
    accuracy_vs_t_figure,
    attention_figure,
    energy_figure,
    firing_rates_figure,
    student_with_teacher,
    training_curves_figure,
)
from .lasnn_table import LaSNNTable
from .runner import PipelineConfig, PipelineRun, load_pipeline_config

STAGES = ("teacher", "intermediate", "conversion", "students")
INITS = ("converted", "random", "own")


@dataclass
class Variant:
    """One student: a row label, its initialisation and its engine-config changes."""

    label: str = ""
    init: str = "converted"  # converted | random | own
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConversionSettings:
    """The conversion sweep: the T at which the converted SNN is evaluated."""

    timesteps: list[int] = field(default_factory=lambda: [8, 16, 32, 64, 128])


@dataclass
class LaSNNConfig(PipelineConfig):
    """``configs/lasnn_<dataset>.yaml``; see the module docstring."""

    pipeline: str = "lasnn"
    timesteps: int = 4
    energy_samples: int = 256
    teacher: dict[str, Any] = field(default_factory=dict)
    intermediate: dict[str, Any] = field(default_factory=dict)
    converted: dict[str, Any] = field(default_factory=dict)
    conversion: ConversionSettings = field(default_factory=ConversionSettings)
    student: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, Variant] = field(default_factory=dict)
    only: list[str] = field(default_factory=list)  # variants to run (empty: all)
    # more student T: every variant and seed again at each, after the main students, in
    # RUN/students_T<T>/<variant>/seed<k>/ (rows of their own; the verdicts stay at T)
    extra_timesteps: list[int] = field(default_factory=list)
    # how many of the seeds train again at the extra T (null: all of them)
    extra_seeds: int | None = None


def default_run_dir(config: LaSNNConfig, quick: bool) -> Path:
    dataset = str(config.base.get("data", {}).get("name", "data"))
    return Path("runs") / f"lasnn-{dataset}-T{config.timesteps}{'-quick' if quick else ''}"


def load_config(
    dataset: str = "digits",
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    quick: bool = False,
    run_dir: str | Path | None = None,
) -> LaSNNConfig:
    """The pipeline config (``lasnn_<dataset>`` by default), checked."""
    config = load_pipeline_config(
        LaSNNConfig,
        path if path is not None else f"lasnn_{dataset.replace('-', '_')}",
        list(overrides),
        quick,
        run_dir,
        default_run_dir,
    )
    if config.timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got {config.timesteps}")
    if config.extra_seeds is not None and not 1 <= config.extra_seeds <= config.seeds:
        raise ValueError(
            f"extra_seeds must be 1..seeds={config.seeds} (or null: all), got {config.extra_seeds}"
        )
    bad = [t for t in config.extra_timesteps if t < 1 or t == config.timesteps]
    if bad or len(set(config.extra_timesteps)) != len(config.extra_timesteps):
        raise ValueError(
            f"extra_timesteps must be distinct T >= 1 other than timesteps={config.timesteps}, "
            f"got {config.extra_timesteps}"
        )
    for name, variant in config.variants.items():
        if variant.init not in INITS:
            raise ValueError(f"variants.{name}.init must be one of {INITS}, got {variant.init!r}")
    # each engine-config section checked on its own first, so that an error names the
    # pipeline key (student.train.epochs), not the stage it would first break
    sections = {"base": config.base, "teacher": config.teacher}
    sections |= {"intermediate": config.intermediate, "student": config.student}
    sections |= {f"variants.{n}.config": v.config for n, v in config.variants.items()}
    for key, section in sections.items():
        load_structured(Config, section, where=key)
    load_structured(ModelConfig, config.converted, where="converted")
    unknown = [n for n in config.only if n not in config.variants]
    if unknown:
        raise ValueError(
            f"only names unknown variants {unknown}; variants: {list(config.variants)}"
        )
    return config


class LaSNNPipeline:
    """The stages of one LaSNN run (engine configs built up front, so that a mistake in
    a student's section fails before the teacher trains for an hour)."""

    def __init__(self, config: LaSNNConfig, log: Callable[[str], None]) -> None:
        self.config = config
        self.run = PipelineRun(
            "lasnn", Path(str(config.run_dir)), log, report_only=config.report_only
        )
        c = config
        self.teacher = self.run.engine_config("teacher", c.base, c.teacher, self._seed(0))
        self.intermediate = self.run.engine_config(
            "intermediate", c.base, c.intermediate, self._seed(0)
        )
        self.conversion = self.run.engine_config(
            "conversion", c.base, c.student, {"model": c.converted}, self._seed(0)
        )
        names = c.only or list(c.variants)
        self.students = {
            (name, k): self._student(name, c.seed + k) for k in range(c.seeds) for name in names
        }
        self.extra_students = {
            (steps, name, k): self._student(name, c.seed + k, steps)
            for steps in c.extra_timesteps
            for k in range(c.seeds if c.extra_seeds is None else c.extra_seeds)
            for name in names
        }
        self.run.stage_total = 3 + len(self.students) + len(self.extra_students)

    def _seed(self, offset: int) -> dict[str, Any]:
        return {"train": {"seed": self.config.seed + offset}}

    @staticmethod
    def student_stage(name: str, seed: int, steps: int | None = None) -> str:
        """``students/<variant>/seed<k>`` (the main T) or ``students_T<T>/…``."""
        return f"students{'' if steps is None else f'_T{steps}'}/{name}/seed{seed}"

    def _student(self, name: str, seed: int, steps: int | None = None) -> Any:
        variant, c = self.config.variants[name], self.config
        # init "own": the variant's config names its model; the layers below merge
        model = {"model": c.converted} if variant.init != "own" else {}
        fresh = {"model": {"kwargs": {"random_init": True}}} if variant.init == "random" else {}
        at = {} if steps is None else {"data": {"timesteps": steps}}
        return self.run.engine_config(
            self.student_stage(name, seed, steps),
            c.base,
            c.student,
            model,
            fresh,
            variant.config,
            {"train": {"seed": seed}},
            at,
        )

    def energy(self, model: Any, steps: int, config: Any) -> dict[str, Any]:
        images = self.run.test_images(config, self.config.energy_samples)
        x = images.unsqueeze(0).expand(steps, *images.shape).contiguous()
        device = next(model.parameters()).device
        return measure_inference(model, x.to(device))

    def ann_summary(self, trainer: Any, result: dict[str, Any]) -> dict[str, Any]:
        energy = self.energy(trainer.model, 1, trainer.config)
        return {"T": 1, "firing_rate": None, "energy_uj": energy["energy_uj"]}

    def student_summary(self, trainer: Any, result: dict[str, Any]) -> dict[str, Any]:
        return self.energy(trainer.model, trainer.config.data.timesteps, trainer.config)

    def convert(self, ann_accuracy: float) -> dict[str, Any]:
        config, small_t = self.conversion, self.config.timesteps
        train_set, test_set = self.run.datasets(config)
        snn = build_model(config, train_set)  # on the CPU, as accuracy_vs_timesteps feeds it
        steps = sorted({small_t, *self.config.conversion.timesteps})
        # tallies kept per batch: a sweep cut off by the end of a working session goes on
        # from the batch where it stopped when the pipeline is run again
        tallies = self.run.stage_dir("conversion") / "sweep_tallies.pt"
        per_t = accuracy_vs_timesteps(
            snn, test_set, steps, progress=config.train.progress, resume=tallies
        )
        within = [t for t in steps if per_t[t]["accuracy"] >= ann_accuracy - 0.01]
        match_t = min(within) if within else None
        energies = {t: self.energy(snn, t, config) for t in {small_t, match_t or max(steps)}}
        shown = ", ".join(f"T={t}: {per_t[t]['accuracy']:.4f}" for t in steps)
        self.run.log(f"[lasnn conversion] intermediate ANN {ann_accuracy:.4f}; {shown}")
        return {
            "calibration": config.model.kwargs.get("calibration"),
            "thresholds": {k: v.tolist() for k, v in snn.thresholds().items()},
            "ann_accuracy": ann_accuracy,
            "timesteps": {str(t): per_t[t] for t in steps},
            "small_t": small_t,
            "smallest_t_within_1pct": match_t,
            "energy": {str(t): e for t, e in energies.items()},
        }

    def execute(self, stop_after: str | None) -> dict[str, Any]:
        c, run = self.config, self.run
        result: dict[str, Any] = {
            "dataset": self.teacher.data.name,
            "timesteps": c.timesteps,
            "seeds": c.seeds,
            "run_dir": str(run.run_dir),
        }

        def partial(status: str, stage: str) -> dict[str, Any]:
            # report_only: nothing to report before this stage has finished
            status = "partial" if run.report_only else status
            return {**result, "status": status, "stage": stage, "missing": run.missing}

        teacher = run.train("teacher", self.teacher, self.ann_summary)
        if teacher is None:
            return partial("interrupted", "teacher")
        if stop_after == "teacher":
            return partial("stopped", "teacher")
        intermediate = run.train("intermediate", self.intermediate, self.ann_summary)
        if intermediate is None:
            return partial("interrupted", "intermediate")
        if stop_after == "intermediate":
            return partial("stopped", "intermediate")
        accuracy = float(intermediate["accuracy"])
        settings = {**self.conversion.to_dict(), "sweep": list(c.conversion.timesteps)}
        conversion = run.compute("conversion", settings, lambda: self.convert(accuracy))
        if conversion is None:
            return partial("interrupted", "conversion")
        if stop_after == "conversion":
            return partial("stopped", "conversion")
        students: dict[str, list[dict[str, Any]]] = {}
        for (name, seed), config in self.students.items():
            r = run.train(f"students/{name}/seed{seed}", config, self.student_summary)
            if r is None and run.report_only:
                continue
            if r is None:
                return partial("interrupted", f"student {name} seed {seed}")
            r["init"] = c.variants[name].init
            students.setdefault(name, []).append(r)
        extra: dict[int, dict[str, list[dict[str, Any]]]] = {}
        for (steps, name, seed), config in self.extra_students.items():
            r = run.train(self.student_stage(name, seed, steps), config, self.student_summary)
            if r is None and run.report_only:
                continue
            if r is None:
                return partial("interrupted", f"student {name} seed {seed} at T={steps}")
            r["init"] = c.variants[name].init
            extra.setdefault(steps, {}).setdefault(name, []).append(r)
        labels = {name: v.label or name for name, v in c.variants.items() if name in students}
        table = LaSNNTable(teacher, intermediate, conversion, students, labels, extra)
        result.update(
            status=run.status(),
            stage="done",
            missing=run.missing,
            rows=table.rows(),
            conversion=conversion,
            claims=table.claims(),
            seconds=round(time.perf_counter() - run.started, 1),
        )
        table.write(run.run_dir, result, self.figures(result, students, labels))
        return result

    def figures(
        self,
        result: dict[str, Any],
        students: dict[str, list[dict[str, Any]]],
        labels: dict[str, str],
    ) -> list[dict[str, Any]]:
        """The report's figures (:mod:`.lasnn_report`): accuracy vs T, accuracy vs
        energy, every stage's training curves, teacher vs student attention maps of each
        LaSNN variant (first seed), per-layer firing rates."""
        run = self.run
        specs = [accuracy_vs_t_figure(result), energy_figure(result["rows"])]
        stages = {"teacher ANN": [run.stage_dir("teacher")]}
        stages["intermediate ANN"] = [run.stage_dir("intermediate")]
        for name, label in labels.items():
            seeds = [r["seed"] for r in students[name]]
            stages[label] = [run.stage_dir(f"students/{name}/seed{s}") for s in seeds]
        specs.append(training_curves_figure(stages))
        for name, label in labels.items():
            seed = students[name][0]["seed"]
            config = self.students[(name, seed)]
            if config.train.method != "lasnn":
                continue
            train_set, test_set = run.datasets(config)
            checkpoint = run.stage_dir(f"students/{name}/seed{seed}") / "last.pt"
            model, method = student_with_teacher(config, checkpoint, train_set)
            specs.append(attention_figure(label, method, model, config, test_set))
        rates = firing_rates_figure(students, labels)
        return specs + ([rates] if rates is not None else [])


def run_lasnn(
    dataset: str = "digits",
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
    """Run (or resume) the LaSNN pipeline; returns the result (``status``, ``rows``, ...).

    Args:
        dataset: picks the config ``lasnn_<dataset>`` when ``config`` is not given.
        config: a pipeline YAML path or shipped config name.
        run_dir: where every stage lives (default ``runs/lasnn-<dataset>-T<T>``); re-run
            with the same directory to resume.
        timesteps: the students' (small) T (default: the config's).
        seeds: student seeds ``seed, seed+1, ...`` (teacher and intermediate: one).
        quick: apply the config's ``quick`` overrides (fewer epochs).
        overrides: ``"teacher.train.epochs=2"``-style changes of the pipeline config.
        stop_after: ``"teacher"``, ``"intermediate"`` or ``"conversion"``.
        log: progress lines (``None``: silent).

    ``status`` is ``"complete"``, ``"stopped"`` (``stop_after``) or ``"interrupted"``
    (a stage ended before its last epoch, e.g. by ``max_steps``).
    """
    if stop_after is not None and stop_after not in STAGES[:-1]:
        raise ValueError(f"stop_after must be one of {STAGES[:-1]}, got {stop_after!r}")
    extra = list(overrides)
    if timesteps is not None:
        extra.append(f"timesteps={int(timesteps)}")
    if seeds is not None:
        if seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {seeds}")
        extra.append(f"seeds={int(seeds)}")
    settings = load_config(dataset, config, extra, quick, run_dir)
    pipeline = LaSNNPipeline(settings, log or (lambda line: None))
    return pipeline.execute(stop_after)


format_table = LaSNNTable.format

__all__ = ["STAGES", "LaSNNConfig", "format_table", "load_config", "run_lasnn"]
