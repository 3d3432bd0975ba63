r"""SpikingBERT on SST-2 (METHODS §12) as one resumable run: ``spikeforge run spikingbert``.

Stages (``configs/spikingbert_sst2.yaml``), each in ``RUN/<stage>/`` with ``stage.yaml``
(its settings), ``last.pt`` after every epoch and on SIGINT/SIGTERM (an interrupted stage
resumes at the batch it stopped at: :mod:`.spikingbert_stage`) and ``result.json`` once
done (then skipped):

1. ``teacher`` — a small BERT-style ANN (:class:`~spikeforge.models.bert_teacher.BertTeacher`)
   trained on the train split with cross-entropy, or (``teacher_model.name: minilm``,
   ``configs/spikingbert_sst2_minilm.yaml``) a pretrained BERT fine-tuned on it, whose
   WordPiece vocabulary the students then read (:mod:`.spikingbert_teacher`);
2. per student seed ``s`` (``students/<variant>/seed<s>/``): ``scratch`` (the spiking
   student trained on the labels, no teacher), ``prediction_kd`` (prediction-layer KD
   only, from random weights, settings ``prediction_only``), ``internal_kd`` (attention
   + hidden KD) and ``full`` (prediction-layer KD started from ``internal_kd``: the full
   recipe);
3. ``sweep/seed<s>`` — the full-recipe student evaluated at every ``t_conv`` of
   ``sweep`` (accuracy, firing rates, ``Norm#OPS`` and energy ratio).

Every student stage is evaluated on dev at the student's ``t_conv``: accuracy, mean
firing rate, ``Norm#OPS``, the ANN/SNN energy ratio ``e`` and µJ per sentence (45 nm).
The table (one row per variant, mean ± std over seeds; the sweep below) goes to
``RUN/results.json``, ``results.md`` and ``report.html``. Data: the vocabulary is built
from the whole train split; ``data.train_samples`` keeps a seeded subset for training.

Choices and what is known (short runs on the shared 2-core machine, 300 dev sentences):
the students' head reads the mean rate over real tokens (``student_model.pool: mean``).
The paper's ``[CLS]`` head (``pool=cls``) stayed at chance from scratch (train loss at
the label prior after 2 epochs on 6,000 phrases, ``equilibrium="iterate"``, 1 and 2
layers), while the mean head reached 74 / 77 % (1 layer, epochs 1 / 2) in that setting;
the spiking student (2 layers, T_conv 16, mean head, no teacher) reached 69 / 73 / 76 %
after 1 / 2 / 3 epochs on 6,000 phrases. There is no general-distillation stage (the
paper starts its students from a general-distilled TinyBERT; these start from random
weights).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..data.datasets.sst2 import sst2, sst2_tokenizer
from ..data.text import make_text_loader
from ..methods.distill.spikingbert import SpikingBertDistiller, evaluate
from ..models.bert_teacher import BertTeacher
from ..models.spiking_bert import SpikingBert
from .runner import PipelineConfig, PipelineRun, load_pipeline_config
from .spikingbert_stage import train_stage
from .spikingbert_teacher import (
    TeacherModel,
    build_teacher,
    follow_teacher,
    is_pretrained,
    teacher_label,
    teacher_settings,
)
from .table import accuracy_cell, against_spread, fmt, markdown, mean_std, write_outputs

VARIANTS = ("scratch", "prediction_kd", "full")
LABELS = {
    "scratch": "spiking student, no teacher",
    "prediction_kd": "+ prediction-layer KD only",
    "full": "+ internal-layer and prediction KD (full recipe)",
}


@dataclass
class TextData:
    """Data settings (``data_dir`` and ``eval_batch_size`` do not change results)."""

    name: str = "sst2"
    data_dir: str | None = None
    max_len: int = 64
    min_freq: int = 1
    max_vocab: int | None = None
    train_samples: int | None = None
    eval_samples: int | None = None
    batch_size: int = 32
    eval_batch_size: int = 128
    tokenizer: str = "word"  # or wordpiece:<minilm | vocab.txt>; follows a pretrained teacher


@dataclass
class Training:
    """One stage's optimisation: AdamW, ``epochs`` passes (``max_batches`` caps each)."""

    epochs: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.01
    grad_clip: float | None = 1.0
    max_batches: int | None = None


@dataclass
class StudentModel:
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    intermediate: int = 256
    t_conv: int = 16
    v_th: float = 1.0
    feedback: bool = False
    solver_iters: int = 50
    tol: float = 1e-6
    feedback_bound: float = 0.1
    pool: str = "mean"


@dataclass
class SpikingBertConfig(PipelineConfig):
    """``configs/spikingbert_sst2.yaml``; see the module docstring."""

    pipeline: str = "spikingbert"
    data: TextData = field(default_factory=TextData)
    teacher_model: TeacherModel = field(default_factory=TeacherModel)
    student_model: StudentModel = field(default_factory=StudentModel)
    teacher: Training = field(default_factory=lambda: Training(epochs=3, lr=5e-4))
    scratch: Training = field(default_factory=lambda: Training(epochs=3, lr=5e-4))
    internal_kd: Training = field(default_factory=lambda: Training(epochs=3, lr=5e-4))
    prediction_kd: Training = field(default_factory=lambda: Training(epochs=3, lr=3e-4))
    # the prediction-KD-only student starts from random weights, as ``scratch`` does
    prediction_only: Training = field(default_factory=lambda: Training(epochs=3, lr=1e-3))
    tau: float = 1.0
    sweep: list[int] = field(default_factory=lambda: [8, 16, 32, 64, 125])
    only: list[str] = field(default_factory=list)  # variants to run (empty: all)


def default_run_dir(config: SpikingBertConfig, quick: bool) -> Path:
    t, tm = config.student_model.t_conv, config.teacher_model
    teacher = f"-{Path(tm.name).name}" if is_pretrained(tm) else ""
    return Path("runs") / f"spikingbert-{config.data.name}{teacher}-T{t}{'-quick' if quick else ''}"


def load_config(
    dataset: str = "sst2",
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    quick: bool = False,
    run_dir: str | Path | None = None,
) -> SpikingBertConfig:
    """The pipeline config (``spikingbert_<dataset>`` by default), checked."""
    config = load_pipeline_config(
        SpikingBertConfig,
        path if path is not None else f"spikingbert_{dataset.replace('-', '_')}",
        list(overrides),
        quick,
        run_dir,
        default_run_dir,
    )
    if config.data.name != "sst2":
        raise ValueError(
            f"spikingbert runs on text data: data.name must be 'sst2', got {config.data.name!r}"
        )
    unknown = [v for v in config.only if v not in VARIANTS]
    if unknown:
        raise ValueError(f"only names unknown variants {unknown}; variants: {list(VARIANTS)}")
    for stage in ("teacher", "scratch", "internal_kd", "prediction_kd", "prediction_only"):
        t = getattr(config, stage)
        if t.epochs < 1 or not t.lr > 0:
            raise ValueError(
                f"{stage}.epochs must be >= 1 and {stage}.lr > 0, got {t.epochs}, {t.lr}"
            )
    sm = config.student_model
    internal_kd = not config.only or "full" in config.only
    follow_teacher(config.teacher_model, config.data, sm.heads, sm.layers, internal_kd)
    if any(t < 1 for t in config.sweep):
        raise ValueError(f"sweep must list t_conv values >= 1, got {config.sweep}")
    return config


class SpikingBertPipeline:
    """The stages of one run (data loaded once; models built per stage)."""

    def __init__(self, config: SpikingBertConfig, log: Callable[[str], None]) -> None:
        self.config = config
        self.run = PipelineRun("spikingbert", Path(str(config.run_dir)), log)
        self.log = log
        d = config.data
        self.tokenizer = sst2_tokenizer(d.data_dir, d.min_freq, d.max_vocab, d.max_len, d.tokenizer)
        self.train_set = sst2("train", d.data_dir, self.tokenizer, samples=d.train_samples)
        self.dev_set = sst2("test", d.data_dir, self.tokenizer, samples=d.eval_samples)
        self.variants = [v for v in VARIANTS if not config.only or v in config.only]
        per_seed = sum({"scratch": 1, "prediction_kd": 1, "full": 3}[v] for v in self.variants)
        self.run.stage_total = 1 + config.seeds * per_seed

    # -- building -----------------------------------------------------------------------
    def settings(
        self, stage: str, training: Training | None, model: Any, **extra: Any
    ) -> dict[str, Any]:
        data = {
            k: v
            for k, v in asdict(self.config.data).items()
            if k not in ("data_dir", "eval_batch_size")
            # the default tokenizer left out: stages run before the option still resume
            and not (k == "tokenizer" and v == "word")
        }
        shape = teacher_settings(model) if isinstance(model, TeacherModel) else asdict(model)
        out = {"stage": stage, "data": data, "model": shape, **extra}
        if training is not None:
            out["training"] = asdict(training)
        return out

    def teacher_model(self, load_weights: bool = False) -> BertTeacher:
        """The teacher's architecture (``load_weights``: a pretrained one's weights too)."""
        c = self.config
        return build_teacher(c.teacher_model, len(self.tokenizer), c.data.max_len, load_weights)

    def student_model(self, seed: int) -> SpikingBert:
        torch.manual_seed(seed)
        options = asdict(self.config.student_model)
        return SpikingBert(len(self.tokenizer), 2, max_len=self.config.data.max_len, **options)

    def loaders(self, seed: int) -> tuple[Any, Any]:
        d = self.config.data
        train = make_text_loader(self.train_set, d.batch_size, shuffle=True, seed=seed)
        dev = make_text_loader(self.dev_set, d.eval_batch_size, shuffle=False)
        return train, dev

    # -- one trained stage, resumable inside an epoch (spikingbert_stage) ----------
    def fit(
        self,
        stage: str,
        model: torch.nn.Module,
        teacher: torch.nn.Module | None,
        kind: str,
        training: Training,
        seed: int,
    ) -> dict[str, Any]:
        directory = self.run.stage_dir(stage)
        distiller = SpikingBertDistiller(model, teacher, kind, self.config.tau)
        params = [p for p in distiller.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=training.lr, weight_decay=training.weight_decay)
        train, dev = self.loaders(seed)
        history, seconds = train_stage(
            directory, distiller, optimizer, train, lambda: evaluate(model, dev),
            epochs=training.epochs, grad_clip=training.grad_clip,
            max_batches=training.max_batches, seed=seed, log=self.log, name=f"spikingbert {stage}",
        )  # fmt: skip
        metrics = evaluate(model, dev)
        torch.save(model.state_dict(), directory / "model.pt")
        result = {
            **metrics,
            "seed": seed,
            "history": history,
            "parameters": sum(p.numel() for p in model.parameters()),
            "model": str(directory / "model.pt"),
            "train_seconds": round(seconds, 1),
        }
        if isinstance(model, SpikingBert) and model.feedback is not None:
            result["adjoint_solves"] = model.solves
            result["unconverged_solves"] = model.unconverged_solves
        return result

    def load(self, model: torch.nn.Module, result: dict[str, Any]) -> torch.nn.Module:
        path = Path(str(result["model"]).replace("{run}", str(self.run.run_dir)))
        model.load_state_dict(torch.load(path, weights_only=True))
        return model

    # -- the run ------------------------------------------------------------------------
    def execute(self, stop_after: str | None) -> dict[str, Any]:
        c, run = self.config, self.run
        if c.report_only:
            raise ValueError(
                "report_only is not supported by spikingbert (its students depend on each "
                "other's stages); lasnn, mae and compare support it"
            )
        result: dict[str, Any] = {
            "dataset": c.data.name,
            "seeds": c.seeds,
            "run_dir": str(run.run_dir),
            "t_conv": c.student_model.t_conv,
        }
        tm, sm = c.teacher_model, c.student_model
        if is_pretrained(tm):
            self.log(f"[spikingbert teacher] pretrained {tm.name}: fine-tuning on {c.data.name}")
        teacher_result = run.compute(
            "teacher",
            self.settings("teacher", c.teacher, tm, seed=c.seed),
            lambda: self.fit(
                "teacher", self._seeded_teacher(c.seed), None, "supervised", c.teacher, c.seed
            ),
        )
        self.log(f"[spikingbert teacher] dev accuracy {teacher_result['accuracy']:.4f}")
        if stop_after == "teacher":
            return {**result, "status": "stopped", "stage": "teacher", "teacher": teacher_result}
        teacher = self.load(self.teacher_model(), teacher_result).eval()
        students: dict[str, list[dict[str, Any]]] = {v: [] for v in self.variants}
        sweeps: list[dict[str, Any]] = []
        for k in range(c.seeds):
            seed = c.seed + k
            if "scratch" in self.variants:
                stage = f"students/scratch/seed{seed}"
                students["scratch"].append(
                    run.compute(
                        stage,
                        self.settings(stage, c.scratch, sm, seed=seed),
                        lambda s=stage, seed=seed: self.fit(
                            s, self.student_model(seed), None, "supervised", c.scratch, seed
                        ),
                    )
                )
            if "prediction_kd" in self.variants:
                stage = f"students/prediction_kd/seed{seed}"
                students["prediction_kd"].append(
                    run.compute(
                        stage,
                        self.settings(
                            stage,
                            c.prediction_only,
                            sm,
                            seed=seed,
                            tau=c.tau,
                            teacher=self.settings("teacher", c.teacher, tm),
                        ),
                        lambda s=stage, seed=seed: self.fit(
                            s,
                            self.student_model(seed),
                            teacher,
                            "prediction",
                            c.prediction_only,
                            seed,
                        ),
                    )
                )
            if "full" in self.variants:
                students["full"].append(self._full(seed, teacher))
                sweeps.append(self._sweep(seed, students["full"][-1]))
        rows = self.rows(teacher_result, students)
        result.update(
            status="complete",
            stage="done",
            teacher=teacher_result,
            rows=rows,
            sweep=self.sweep_rows(sweeps),
            claims=claims(teacher_result, students),
            seconds=round(time.perf_counter() - run.started, 1),
        )
        self.write(result)
        return result

    def _seeded_teacher(self, seed: int) -> BertTeacher:
        torch.manual_seed(seed)  # the small teacher's init, a pretrained one's new head
        return self.teacher_model(load_weights=True)

    def _full(self, seed: int, teacher: BertTeacher) -> dict[str, Any]:
        c, run, sm = self.config, self.run, self.config.student_model
        teacher_settings = self.settings("teacher", c.teacher, c.teacher_model)
        stage = f"students/internal_kd/seed{seed}"
        internal = run.compute(
            stage,
            self.settings(stage, c.internal_kd, sm, seed=seed, teacher=teacher_settings),
            lambda: self.fit(
                stage, self.student_model(seed), teacher, "internal", c.internal_kd, seed
            ),
        )
        full_stage = f"students/full/seed{seed}"
        return run.compute(
            full_stage,
            self.settings(
                full_stage,
                c.prediction_kd,
                sm,
                seed=seed,
                tau=c.tau,
                teacher=teacher_settings,
                internal=self.settings(stage, c.internal_kd, sm),
            ),
            lambda: self.fit(
                full_stage,
                self.load(self.student_model(seed), internal),
                teacher,
                "prediction",
                c.prediction_kd,
                seed,
            ),
        )

    def _sweep(self, seed: int, full: dict[str, Any]) -> dict[str, Any]:
        stage = f"sweep/seed{seed}"
        settings = {
            "stage": stage,
            "sweep": list(self.config.sweep),
            "model": full["model"],
            "eval_samples": self.config.data.eval_samples,
        }
        _, dev = self.loaders(seed)

        def work() -> dict[str, Any]:
            model = self.load(self.student_model(seed), full)
            return {str(t): evaluate(model, dev, t_conv=t) for t in self.config.sweep}

        return self.run.compute(stage, settings, work)

    # -- the table ----------------------------------------------------------------------
    def rows(
        self, teacher: dict[str, Any], students: dict[str, list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        out = [
            {
                "row": teacher_label(self.config.teacher_model),
                "t_conv": None,
                "accuracy": teacher["accuracy"],
                "accuracy_std": None,
                "seeds": 1,
                "firing_rate": None,
                "norm_ops": None,
                "energy_ratio": None,
                "snn_energy_uj": None,
                "parameters": teacher["parameters"],
            }
        ]
        for variant, results in students.items():
            if not results:
                continue
            acc, std = mean_std([r["accuracy"] for r in results])
            out.append(
                {
                    "row": LABELS[variant],
                    "t_conv": results[0]["t_conv"],
                    "accuracy": acc,
                    "accuracy_std": std,
                    "seeds": len(results),
                    "accuracies": [r["accuracy"] for r in results],
                    **{
                        k: mean_std([r[k] for r in results])[0]
                        for k in ("firing_rate", "norm_ops", "energy_ratio", "snn_energy_uj")
                    },
                    "parameters": results[0]["parameters"],
                }
            )
        return out

    def sweep_rows(self, sweeps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for t in self.config.sweep if sweeps else []:
            per_seed = [s[str(t)] for s in sweeps]
            acc, std = mean_std([r["accuracy"] for r in per_seed])
            out.append(
                {
                    "row": f"full recipe at T_conv={t}",
                    "t_conv": t,
                    "accuracy": acc,
                    "accuracy_std": std,
                    "seeds": len(per_seed),
                    **{
                        k: mean_std([r[k] for r in per_seed])[0]
                        for k in ("firing_rate", "norm_ops", "energy_ratio", "snn_energy_uj")
                    },
                }
            )
        return out

    def write(self, result: dict[str, Any]) -> None:
        table = format_table(result)
        rows = [
            {k: (fmt(v) if isinstance(v, float) else v) for k, v in r.items() if k != "accuracies"}
            for r in [*result["rows"], *result["sweep"]]
        ]
        report = {
            "title": f"SpikingBERT pipeline on {result['dataset']}",
            "meta": {
                "dataset": result["dataset"],
                "T_conv (students)": result["t_conv"],
                "seeds": result["seeds"],
                "run directory": result["run_dir"],
            },
            "distillation": rows,
        }
        write_outputs(self.run.run_dir, result, table, report)


def claims(teacher: dict[str, Any], students: dict[str, list[dict[str, Any]]]) -> list[str]:
    """What holds, in words (the issue's targets), from the measured means; a gain
    over another student counts as beyond the seeds' spread when it exceeds the sum
    of the two rows' standard deviations."""
    if not students.get("full"):
        return []
    full, full_std = mean_std([r["accuracy"] for r in students["full"]])
    full = full or 0.0
    gap = 100 * (teacher["accuracy"] - full)
    out = [
        f"full recipe {100 * full:.2f} % vs teacher {100 * teacher['accuracy']:.2f} %: "
        f"{gap:.2f} points {'within' if gap <= 5 else 'NOT within'} 5"
    ]
    for rival, name in (("scratch", "the no-teacher student"),
                        ("prediction_kd", "the prediction-KD-only student")):  # fmt: skip
        if not students.get(rival):
            continue
        mean, std = mean_std([r["accuracy"] for r in students[rival]])
        gain, spread = 100 * (full - (mean or 0.0)), 100 * ((full_std or 0.0) + (std or 0.0))
        verdict = "above" if gain > 0 else "NOT above"
        judged = f"{against_spread(gain, spread)} the seeds' spread ({spread:.2f})"
        if min(len(students["full"]), len(students[rival])) < 2:
            judged = "one seed: spread not judged"
        out.append(
            f"full recipe {verdict} {name} ({100 * (mean or 0.0):.2f} %): "
            f"{gain:+.2f} points, {judged}"
        )
    return out


HEADER = [
    "row",
    "T_conv",
    "dev accuracy",
    "firing rate",
    "Norm#OPS",
    "ANN/SNN energy e",
    "SNN µJ",
    "seeds",
]


def format_table(result: dict[str, Any]) -> str:
    """The run's Markdown table (rows, then the T_conv sweep) and its claims."""
    lines = [
        [
            r["row"],
            fmt(r["t_conv"]),
            accuracy_cell(r),
            fmt(r["firing_rate"]),
            fmt(r["norm_ops"]),
            fmt(r["energy_ratio"], 2),
            fmt(r["snn_energy_uj"], 3),
            str(r["seeds"]),
        ]
        for r in [*result["rows"], *result.get("sweep", [])]
    ]
    text = markdown(HEADER, lines)
    if result.get("claims"):
        text += "\n\n" + "\n".join(f"- {c}" for c in result["claims"])
    return text


def run_spikingbert(
    dataset: str = "sst2",
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
    """Run (or resume) the SpikingBERT pipeline; returns the result (``status``, ``rows``…).

    Args:
        dataset: picks the config ``spikingbert_<dataset>`` when ``config`` is not given.
        timesteps: the students' ``t_conv`` (default: the config's).
        seeds: student seeds ``seed, seed+1, …`` (the teacher: one).
        quick: the config's ``quick`` overrides (a few-minute run on a train subset).
        overrides: ``"teacher.epochs=2"``-style changes of the pipeline config.
        stop_after: ``"teacher"`` ends the run after the teacher.
    """
    if stop_after is not None and stop_after != "teacher":
        raise ValueError(f"stop_after must be 'teacher' or None, got {stop_after!r}")
    extra = list(overrides)
    if timesteps is not None:
        extra.append(f"student_model.t_conv={int(timesteps)}")
    if seeds is not None:
        if seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {seeds}")
        extra.append(f"seeds={int(seeds)}")
    settings = load_config(dataset, config, extra, quick, run_dir)
    pipeline = SpikingBertPipeline(settings, log or (lambda line: None))
    return pipeline.execute(stop_after)


__all__ = ["VARIANTS", "SpikingBertConfig", "format_table", "load_config", "run_spikingbert"]
