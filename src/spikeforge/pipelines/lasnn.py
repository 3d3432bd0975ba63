r"""The three-stage LaSNN pipeline (Hong et al., 2023; METHODS §7.3) as one resumable run.

``spikeforge run lasnn --dataset digits`` (or :func:`run_lasnn`):

1. **teacher** — train the large teacher ANN (BN and bias), ``RUN/teacher/``;
2. **intermediate** — train the small intermediate ANN (no bias, no BN, average pool),
   ``RUN/intermediate/``; then **conversion** — convert it by threshold balancing
   (``V_th`` = max ReLU activation on calibration data, model ``converted``) and measure
   accuracy vs T, ``RUN/conversion.json``;
3. **students** — train every student variant at the small T, per seed, in
   ``RUN/students/<variant>/seed<k>/``: from scratch, response KD, feature KD, LaSNN
   (activation / gradient attention, converted init), Joint A-SNN, ... (the variants are
   listed in the pipeline config, ``configs/lasnn_<dataset>.yaml``).

It ends with one comparison table (accuracy, T, firing rate, energy per inference in µJ
from :func:`~spikeforge.analysis.measure_inference`), written to ``RUN/results.json``,
``RUN/results.md`` and ``RUN/report.html``.

Resuming: a stage is finished when its ``result.json`` (``conversion.json`` for the
conversion) exists, and is then skipped; a training stage with a ``last.pt`` but no
result resumes through the Trainer (``fit(resume=True)``, bit-exact). Re-running the
same command after an interruption therefore continues in the stage it stopped in.
``stop_after`` ends the run after a stage (``"teacher"``, ``"intermediate"``,
``"conversion"``); a per-stage ``max_steps`` (tests) interrupts training mid-stage.

Student initialisation (``init`` per variant): ``converted`` = the converted
intermediate ANN (the LaSNN initialisation); ``random`` = the same architecture from a
freshly initialised intermediate ANN, with its thresholds set by the same max
calibration (so the random network is not silent at the start).

Energy (:func:`~spikeforge.analysis.measure_inference`): a converted layer emits
``λ·S`` and the VGG/csnn twins average-pool spikes; the op counter follows both as spike
events (one accumulate per spike and fan-out), so only the analog first layer costs MACs.
Measured on a seeded random sample of test images.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from ..analysis import write_report
from ..analysis.inference import measure_inference
from ..data import sample_indices
from ..engine.build import build_datasets, build_model
from ..engine.config import Config, DataConfig, ModelConfig, OptimConfig, TrainConfig
from ..engine.run import resolve_device
from ..engine.trainer import Trainer
from ..methods import METHODS, Method
from ..methods.conversion import ConvertedSNN, convert
from ..methods.conversion.cli_support import accuracy_vs_timesteps
from ..methods.distill import DISTILLATION_METHODS, FeatureKD, build_distillation
from ..methods.hybrid import calibration_inputs

DATASETS = ("digits", "mnist-small", "cifar10-small")
STAGES = ("teacher", "intermediate", "conversion", "students")
INITS = ("converted", "random")
CONFIG_DIR = Path(__file__).resolve().parents[3] / "configs"
ENERGY_SAMPLES = 256
# Keys whose change does not invalidate earlier stages of a run directory.
_FREE_KEYS = ("seeds", "progress", "device", "quick")
# Keys an override may add where the config file has none.
_NEW_KEYS = ("max_steps", "checkpoint_every", "learn_threshold", "seed", "device", "progress")


# -- configuration ---------------------------------------------------------------------
def config_path(dataset: str) -> Path:
    """``configs/lasnn_<dataset>.yaml`` (``-`` -> ``_``)."""
    return CONFIG_DIR / f"lasnn_{dataset.replace('-', '_')}.yaml"


def set_path(config: dict[str, Any], key: str, value: Any) -> None:
    """``set_path(c, "teacher.epochs", 2)``: set a dotted key of a nested dict."""
    parts = key.split(".")
    node = config
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            raise ValueError(f"unknown pipeline config key {key!r} (no section {part!r})")
        node = node[part]
    if parts[-1] not in node and parts[0] != "data" and parts[-1] not in _NEW_KEYS:
        raise ValueError(
            f"unknown pipeline config key {key!r}; keys of {'.'.join(parts[:-1])}: "
            f"{', '.join(sorted(node))}"
        )
    node[parts[-1]] = value


def parse_overrides(overrides: Iterable[str]) -> list[tuple[str, Any]]:
    """``["teacher.epochs=2", ...]`` -> ``[("teacher.epochs", 2), ...]`` (YAML values)."""
    out = []
    for text in overrides:
        if "=" not in text:
            raise ValueError(f"override must look like key.path=value, got {text!r}")
        key, raw = text.split("=", 1)
        out.append((key, yaml.safe_load(raw) if raw else None))
    return out


def load_pipeline_config(
    dataset: str = "digits",
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    quick: bool = False,
    timesteps: int | None = None,
) -> dict[str, Any]:
    """The pipeline settings: the YAML file, then ``quick`` settings, then overrides."""
    path = Path(path) if path is not None else config_path(dataset)
    if not path.is_file():
        raise FileNotFoundError(f"no LaSNN pipeline config {path} (datasets: {DATASETS})")
    config = yaml.safe_load(path.read_text()) or {}
    quick_settings = config.pop("quick", {}) or {}
    config.setdefault("seed", 0)
    config.setdefault("device", "auto")
    config.setdefault("progress", False)
    if config.get("dataset", dataset) != dataset:
        raise ValueError(f"{path} is for dataset {config['dataset']!r}, not {dataset!r}")
    config["dataset"] = dataset
    config["quick"] = bool(quick)
    if quick:
        for key, value in quick_settings.items():
            set_path(config, key, value)
    if timesteps is not None:
        config["timesteps"] = int(timesteps)
    for key, value in parse_overrides(overrides):
        set_path(config, key, value)
    _check(config)
    return config


def _check(config: Mapping[str, Any]) -> None:
    for section in ("teacher", "intermediate", "conversion", "student", "variants"):
        if section not in config:
            raise ValueError(f"pipeline config needs a {section!r} section")
    if int(config["timesteps"]) < 1:
        raise ValueError(f"timesteps must be >= 1, got {config['timesteps']}")
    names = [v["name"] for v in config["variants"]]
    if len(set(names)) != len(names):
        raise ValueError(f"variant names must be unique, got {names}")
    for v in config["variants"]:
        if v.get("init", "converted") not in INITS:
            raise ValueError(f"variant {v['name']}: init must be one of {INITS}")


def _stage_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that determine the stages' results (interruption knobs left out)."""
    settings = copy.deepcopy({k: v for k, v in config.items() if k not in _FREE_KEYS})
    sections = [settings.get(s) for s in ("teacher", "intermediate", "student")]
    sections += [v.get("stage") for v in settings.get("variants", [])]
    for section in sections:
        if isinstance(section, dict):
            section.pop("max_steps", None)
            section.pop("checkpoint_every", None)
    return settings


# -- building blocks ---------------------------------------------------------------------
def _engine_config(
    pcfg: Mapping[str, Any],
    stage: Mapping[str, Any],
    *,
    model: str,
    model_kwargs: Mapping[str, Any],
    method: str,
    timesteps: int,
    seed: int,
    run_dir: Path,
    neuron: str = "if",
    surrogate: str = "triangle",
    optim: Mapping[str, Any] | None = None,
) -> Config:
    data = pcfg.get("data", {}) or {}
    optim_values = {**(stage.get("optim") or {}), **(optim or {})}
    return Config(
        data=DataConfig(
            name=pcfg["dataset"],
            data_dir=data.get("data_dir"),
            batch_size=int(data.get("batch_size", 64)),
            eval_batch_size=int(data.get("eval_batch_size", 512)),
            timesteps=int(timesteps),
            encoder="direct",
            options=dict(data.get("options") or {}),
        ),
        model=ModelConfig(
            name=model, neuron=neuron, surrogate=surrogate, kwargs=dict(model_kwargs)
        ),
        optim=OptimConfig(**optim_values),
        train=TrainConfig(
            epochs=int(stage["epochs"]),
            seed=int(seed),
            method=method,
            objective="ce_membrane",
            run_dir=str(run_dir.parent),
            run_name=run_dir.name,
            checkpoint_every=int(stage.get("checkpoint_every", 0) or 0),
            device=str(pcfg.get("device", "auto")),
            progress=bool(pcfg.get("progress", False)),
            tensorboard=False,
            max_steps=stage.get("max_steps"),
        ),
    )


def _fit(trainer: Trainer) -> bool:
    """Train (resuming from ``last.pt`` when there is one); whether the stage finished."""
    resume = (trainer.run_dir / "last.pt").is_file()
    trainer.fit(resume=resume)
    finished = trainer.position.epoch >= trainer.config.train.epochs
    patience = trainer.config.train.early_stopping_patience
    stopped_early = patience is not None and trainer.epochs_without_improvement >= patience
    return finished or stopped_early


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=float))
    tmp.replace(path)  # atomic: a result file is complete or absent


def _load_ann(checkpoint: Path) -> nn.Module:
    from ..methods.hybrid import load_ann

    return load_ann(checkpoint)[0]


class _Context:
    """What the stages share: config, directories, data, device, logging."""

    def __init__(self, pcfg: dict[str, Any], run_dir: Path, log: Callable[[str], None]) -> None:
        self.pcfg, self.run_dir, self.log = pcfg, run_dir, log
        probe = _engine_config(
            pcfg,
            pcfg["teacher"],
            model="ann_csnn_tiny",
            model_kwargs={},
            method="ann",
            timesteps=1,
            seed=0,
            run_dir=run_dir / "probe",
        )
        self.device = resolve_device(probe)
        self.train_set, self.test_set = build_datasets(probe)
        self._test_images: torch.Tensor | None = None

    def test_images(self) -> torch.Tensor:
        if self._test_images is None:
            count = min(ENERGY_SAMPLES, len(self.test_set))
            indices = sample_indices(len(self.test_set), count)
            self._test_images = torch.stack([self.test_set[int(i)][0] for i in indices])
        return self._test_images

    def encoded(self, steps: int) -> torch.Tensor:
        x = self.test_images().to(self.device)
        return x.unsqueeze(0).expand(steps, *x.shape).contiguous()

    def trainer(self, config: Config, model: nn.Module, method: Method) -> Trainer:
        return Trainer(
            config,
            model,
            method,
            self.train_set,
            self.test_set,
            Path(config.train.run_dir) / str(config.train.run_name),
            self.device,
        )


# -- stages ------------------------------------------------------------------------------
def _ann_stage(ctx: _Context, name: str) -> dict[str, Any] | None:
    """Stage 1 (teacher) or the training half of stage 2 (intermediate)."""
    stage_dir = ctx.run_dir / name
    result_path = stage_dir / "result.json"
    if result_path.is_file():
        ctx.log(f"[{name}] done already ({result_path}); skipped")
        return json.loads(result_path.read_text())
    stage = ctx.pcfg[name]
    seed = int(ctx.pcfg.get("seed", 0))
    config = _engine_config(
        ctx.pcfg,
        stage,
        model=stage["model"],
        model_kwargs=stage.get("kwargs") or {},
        method="ann",
        timesteps=1,
        seed=seed,
        run_dir=stage_dir,
    )
    torch.manual_seed(seed)
    model = build_model(config, ctx.train_set)
    method = METHODS.create("ann", objective="ce_membrane")
    trainer = ctx.trainer(config, model, method)
    resumed = (stage_dir / "last.pt").is_file()
    ctx.log(f"[{name}] {'resuming' if resumed else 'training'} {stage['model']}")
    if not _fit(trainer):
        ctx.log(f"[{name}] interrupted at epoch {trainer.position.epoch + 1}")
        return None
    metrics = trainer.evaluate(ctx.test_set)
    result = {
        "model": stage["model"],
        "kwargs": stage.get("kwargs") or {},
        "accuracy": metrics["accuracy"],
        "epochs": trainer.position.epoch,
        "best_accuracy": trainer.best_accuracy,
        "history": [{"epoch": r["epoch"], "test_acc": r["test_acc"]} for r in trainer.history],
        "T": 1,
        "firing_rate": None,
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        **{
            k: v
            for k, v in measure_inference(trainer.model, ctx.encoded(1)).items()
            if k != "firing_rate"
        },
        "checkpoint": str(stage_dir / "last.pt"),
    }
    _write_json(result_path, result)
    ctx.log(f"[{name}] test accuracy {result['accuracy']:.4f}")
    return result


def _converted_model_config(
    ctx: _Context, seed: int, run_dir: Path, stage: Mapping[str, Any] | None = None, **extra: Any
) -> Config:
    conv, student = ctx.pcfg["conversion"], stage or ctx.pcfg["student"]
    kwargs = {
        "checkpoint": str(ctx.run_dir / "intermediate" / "last.pt"),
        "calibration": conv.get("calibration", "max"),
        "calibration_samples": int(conv.get("calibration_samples", 1024)),
        "learn_threshold": bool(student.get("learn_threshold", False)),
    }
    return _engine_config(
        ctx.pcfg,
        student,
        model="converted",
        model_kwargs=kwargs,
        method="hybrid",
        timesteps=ctx.pcfg["timesteps"],
        seed=seed,
        run_dir=run_dir,
        neuron=student.get("neuron", "if"),
        surrogate=student.get("surrogate", "triangle"),
        **extra,
    )


def _conversion_stage(ctx: _Context, intermediate: Mapping[str, Any]) -> dict[str, Any]:
    """Stage 2b: convert the intermediate ANN; accuracy (and energy) vs T."""
    path = ctx.run_dir / "conversion.json"
    if path.is_file():
        ctx.log(f"[conversion] done already ({path}); skipped")
        return json.loads(path.read_text())
    conv = ctx.pcfg["conversion"]
    config = _converted_model_config(ctx, int(ctx.pcfg.get("seed", 0)), ctx.run_dir / "conv")
    snn = build_model(config, ctx.train_set)  # on the CPU, as accuracy_vs_timesteps feeds it
    small_t = int(ctx.pcfg["timesteps"])
    steps = sorted({small_t, *(int(t) for t in conv.get("timesteps", [8, 16, 32, 64, 128]))})
    per_t = accuracy_vs_timesteps(snn, ctx.test_set, steps)
    ann_acc = float(intermediate["accuracy"])
    within = [t for t in steps if per_t[t]["accuracy"] >= ann_acc - 0.01]
    match_t = min(within) if within else None
    energies = {
        t: measure_inference(snn, ctx.encoded(t).cpu()) for t in {small_t, match_t or max(steps)}
    }
    result = {
        "calibration": conv.get("calibration", "max"),
        "thresholds": {k: v.tolist() for k, v in snn.thresholds().items()},
        "ann_accuracy": ann_acc,
        "timesteps": {str(t): per_t[t] for t in steps},
        "small_t": small_t,
        "smallest_t_within_1pct": match_t,
        "energy": {str(t): e for t, e in energies.items()},
    }
    _write_json(path, result)
    shown = ", ".join(f"T={t}: {per_t[t]['accuracy']:.4f}" for t in steps)
    ctx.log(f"[conversion] intermediate ANN {ann_acc:.4f}; converted SNN {shown}")
    return result


def _random_converted(ctx: _Context, config: Config) -> ConvertedSNN:
    """The converted architecture from a freshly initialised intermediate ANN."""
    inter = ctx.pcfg["intermediate"]
    ann_config = copy.deepcopy(config)
    ann_config.model = ModelConfig(name=inter["model"], kwargs=dict(inter.get("kwargs") or {}))
    ann = build_model(ann_config, ctx.train_set)
    conv = ctx.pcfg["conversion"]
    return convert(
        ann,
        calibration_inputs(ctx.train_set, int(conv.get("calibration_samples", 1024))),
        conv.get("calibration", "max"),
        neuron=config.model.neuron,
        surrogate=config.model.surrogate,
        learn_threshold=bool(ctx.pcfg["student"].get("learn_threshold", False)),
    )


def _student_stage(ctx: _Context, variant: Mapping[str, Any], seed: int) -> dict[str, Any] | None:
    name = variant["name"]
    stage_dir = ctx.run_dir / "students" / name / f"seed{seed}"
    result_path = stage_dir / "result.json"
    if result_path.is_file():
        ctx.log(f"[student {name} seed {seed}] done already; skipped")
        return json.loads(result_path.read_text())
    student = {**ctx.pcfg["student"], **(variant.get("stage") or {})}
    init = variant.get("init", "converted")
    method_name = variant["method"]
    extra = {"optim": variant.get("optim")}
    if variant.get("model"):  # an architecture of its own (Joint A-SNN)
        config = _engine_config(
            ctx.pcfg,
            student,
            model=variant["model"],
            model_kwargs=variant.get("model_kwargs") or {},
            method=method_name,
            timesteps=ctx.pcfg["timesteps"],
            seed=seed,
            run_dir=stage_dir,
            neuron=variant.get("neuron", "lif"),
            surrogate=variant.get("surrogate", student.get("surrogate", "triangle")),
            **extra,
        )
    else:
        config = _converted_model_config(ctx, seed, stage_dir, student, **extra)
        config.train.method = method_name
    torch.manual_seed(seed)  # as run.make_trainer: model (and adapters) from the seeded RNG
    if variant.get("model"):
        model = build_model(config, ctx.train_set)
    elif init == "random":
        # The config keeps the converted architecture's kwargs, so that evaluation and
        # reports rebuild the same network and load these (random-init-trained) weights.
        model = _random_converted(ctx, config)
    else:
        model = build_model(config, ctx.train_set)
    method = _student_method(ctx, variant, model)
    trainer = ctx.trainer(config, model, method)
    resumed = (stage_dir / "last.pt").is_file()
    ctx.log(f"[student {name} seed {seed}] {'resuming' if resumed else 'training'} ({init} init)")
    if not _fit(trainer):
        ctx.log(f"[student {name} seed {seed}] interrupted")
        return None
    metrics = trainer.evaluate(ctx.test_set)
    steps = int(ctx.pcfg["timesteps"])
    result = {
        "variant": name,
        "seed": seed,
        "init": "random" if variant.get("model") else init,
        "method": method_name,
        "accuracy": metrics["accuracy"],
        "best_accuracy": trainer.best_accuracy,
        "layer_firing_rates": metrics["firing_rates"],
        "T": steps,
        "history": [{"epoch": r["epoch"], "test_acc": r["test_acc"]} for r in trainer.history],
        **measure_inference(trainer.model, ctx.encoded(steps)),
    }
    _write_json(result_path, result)
    ctx.log(f"[student {name} seed {seed}] test accuracy {result['accuracy']:.4f}")
    return result


def _student_method(ctx: _Context, variant: Mapping[str, Any], model: nn.Module) -> Method:
    name = variant["method"]
    options = dict(variant.get("options") or {})
    if name not in DISTILLATION_METHODS:
        return METHODS.create(name, objective="ce_membrane", **options)
    teacher = None
    if name != "joint_asnn":
        teacher = _load_ann(ctx.run_dir / "teacher" / "last.pt").to(ctx.device)
    pairs = None
    if name in ("feature_kd", "lasnn"):
        pairs = [tuple(p) for p in (variant.get("pairs") or ctx.pcfg["pairs"])]
        if name == "lasnn" and "weights" not in options and ctx.pcfg.get("weights"):
            options["weights"] = list(ctx.pcfg["weights"])
    method = build_distillation(name, teacher, pairs, objective="ce_membrane", **options)
    if isinstance(method, FeatureKD):  # adapters must exist before the optimiser / resume
        model.to(ctx.device)
        method.setup(model, ctx.encoded(int(ctx.pcfg["timesteps"]))[:, :8])
    return method


# -- the table ---------------------------------------------------------------------------
def _mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), std


def build_rows(
    teacher: Mapping[str, Any],
    intermediate: Mapping[str, Any],
    conversion: Mapping[str, Any],
    students: Mapping[str, list[Mapping[str, Any]]],
    variants: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The comparison table's rows (students: mean and std over seeds)."""
    rows: list[dict[str, Any]] = []
    for label, r in (("teacher ANN", teacher), ("intermediate ANN", intermediate)):
        rows.append(
            {
                "row": label,
                "init": "-",
                "T": None,
                "accuracy": r["accuracy"],
                "accuracy_std": None,
                "firing_rate": None,
                "energy_uj": r["energy_uj"],
                "seeds": 1,
            }
        )
    small_t, match_t = conversion["small_t"], conversion["smallest_t_within_1pct"]
    same = " (already within 1% of the ANN)" if match_t == small_t else ""
    shown = [(f"converted SNN (T={small_t}){same}", small_t)]
    if match_t is None:
        top = max(int(t) for t in conversion["timesteps"])
        shown.append((f"converted SNN (T={top}, never within 1% of the ANN)", top))
    elif match_t != small_t:
        shown.append((f"converted SNN (T={match_t}: within 1% of the ANN)", match_t))
    for label, steps in shown:
        point = conversion["timesteps"][str(steps)]
        energy = conversion["energy"].get(str(steps), {})
        rows.append(
            {
                "row": label,
                "init": "converted",
                "T": steps,
                "accuracy": point["accuracy"],
                "accuracy_std": None,
                "firing_rate": point["firing_rate"],
                "energy_uj": energy.get("energy_uj"),
                "seeds": 1,
            }
        )
    for variant in variants:
        results = students.get(variant["name"], [])
        if not results:
            continue
        acc, acc_std = _mean_std([r["accuracy"] for r in results])
        rate, _ = _mean_std([r["firing_rate"] for r in results])
        energy, _ = _mean_std([r["energy_uj"] for r in results])
        rows.append(
            {
                "row": variant.get("label", variant["name"]),
                "variant": variant["name"],
                "init": results[0]["init"],
                "T": results[0]["T"],
                "accuracy": acc,
                "accuracy_std": acc_std,
                "firing_rate": rate,
                "energy_uj": energy,
                "seeds": len(results),
                "accuracies": [r["accuracy"] for r in results],
            }
        )
    return rows


def claims(rows: Sequence[Mapping[str, Any]], conversion: Mapping[str, Any]) -> dict[str, Any]:
    """Does LaSNN beat scratch and response KD at equal T; how many fewer steps than
    conversion does it need for its accuracy."""
    by_variant = {r["variant"]: r for r in rows if "variant" in r}
    lasnn = [r for r in by_variant.values() if r["variant"].startswith("lasnn")]
    if not lasnn:
        return {}
    best = max(lasnn, key=lambda r: r["accuracy"])
    out: dict[str, Any] = {"lasnn_best": best["variant"], "lasnn_accuracy": best["accuracy"]}
    for other in ("scratch", "kd"):
        if other in by_variant:
            out[f"beats_{other}"] = best["accuracy"] > by_variant[other]["accuracy"]
            out[f"margin_over_{other}"] = best["accuracy"] - by_variant[other]["accuracy"]
    steps = sorted(int(t) for t in conversion["timesteps"])
    reach = [t for t in steps if conversion["timesteps"][str(t)]["accuracy"] >= best["accuracy"]]
    out["conversion_t_for_lasnn_accuracy"] = reach[0] if reach else None
    out["timestep_reduction"] = reach[0] / best["T"] if reach else None
    out["conversion_max_t"] = steps[-1]
    return out


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_table(result: Mapping[str, Any]) -> str:
    """The comparison table as Markdown (also readable as plain text)."""
    lines = [
        "| model | init | T | accuracy | firing rate | energy (µJ) | seeds |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        acc = _fmt(r["accuracy"])
        if r.get("accuracy_std") is not None and r.get("seeds", 1) > 1:
            acc += f" ± {r['accuracy_std']:.4f}"
        lines.append(
            f"| {r['row']} | {r['init']} | {_fmt(r['T'])} | {acc} | {_fmt(r['firing_rate'])} "
            f"| {_fmt(r['energy_uj'], 5)} | {r['seeds']} |"
        )
    c = result.get("claims") or {}
    if c:
        parts = [f"LaSNN ({c['lasnn_best']}) accuracy {c['lasnn_accuracy']:.4f}"]
        for other, label in (("scratch", "from scratch"), ("kd", "response KD")):
            if f"beats_{other}" in c:
                verdict = "beats" if c[f"beats_{other}"] else "does not beat"
                parts.append(f"{verdict} {label} ({c[f'margin_over_{other}']:+.4f})")
        if c.get("timestep_reduction"):
            parts.append(
                f"conversion needs T={c['conversion_t_for_lasnn_accuracy']} for it "
                f"({c['timestep_reduction']:g}x more steps)"
            )
        else:
            parts.append(f"conversion does not reach it by T={c['conversion_max_t']}")
        lines += ["", "; ".join(parts)]
    return "\n".join(lines)


def _write_outputs(ctx: _Context, result: dict[str, Any]) -> None:
    _write_json(ctx.run_dir / "results.json", result)
    (ctx.run_dir / "results.md").write_text(format_table(result) + "\n")
    conversion = result["conversion"]
    curve = [
        {
            "T": int(t),
            "converted SNN": p["accuracy"],
            "intermediate ANN": conversion["ann_accuracy"],
        }
        for t, p in conversion["timesteps"].items()
    ]
    table = [
        {
            "model": r["row"],
            "init": r["init"],
            "T": r["T"] if r["T"] is not None else "-",
            "accuracy": _fmt(r["accuracy"])
            + (f" ± {r['accuracy_std']:.4f}" if r.get("seeds", 1) > 1 else ""),
            "firing rate": _fmt(r["firing_rate"]),
            "energy (µJ)": _fmt(r["energy_uj"], 5),
            "seeds": r["seeds"],
        }
        for r in result["rows"]
    ]
    write_report(
        ctx.run_dir / "report.html",
        {
            "title": f"LaSNN pipeline on {result['dataset']}",
            "meta": {
                "dataset": result["dataset"],
                "T (students)": result["timesteps"],
                "seeds": result["seeds"],
                "run directory": str(ctx.run_dir),
            },
            "distillation": table,
            "conversion": curve,
        },
    )


# -- the pipeline ------------------------------------------------------------------------
def default_run_dir(config: Mapping[str, Any]) -> Path:
    quick = "-quick" if config.get("quick") else ""
    return Path("runs") / f"lasnn-{config['dataset']}-T{config['timesteps']}{quick}"


def _claim_run_dir(run_dir: Path, config: Mapping[str, Any]) -> None:
    """Record the settings in ``pipeline.yaml``; refuse a directory made with others."""
    path = run_dir / "pipeline.yaml"
    if path.is_file():
        saved = yaml.safe_load(path.read_text()) or {}
        if _stage_settings(saved) != _stage_settings(config):
            raise ValueError(
                f"{run_dir} holds a LaSNN pipeline run with other settings (see {path}); "
                "choose another --run-dir"
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))


def run_lasnn(
    dataset: str = "digits",
    *,
    config: str | Path | Mapping[str, Any] | None = None,
    run_dir: str | Path | None = None,
    timesteps: int | None = None,
    seeds: int = 1,
    quick: bool = False,
    overrides: Iterable[str] = (),
    stop_after: str | None = None,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Run (or resume) the LaSNN pipeline; returns the result (``status``, ``rows``, ...).

    Args:
        dataset: ``digits``, ``mnist-small`` or ``cifar10-small``.
        config: a pipeline YAML path or an already loaded dict (default:
            ``configs/lasnn_<dataset>.yaml``).
        run_dir: where every stage lives (default ``runs/lasnn-<dataset>-T<T>``); re-run
            with the same directory to resume.
        timesteps: the students' (small) T (default: the config's).
        seeds: student seeds ``seed, seed+1, ...`` (teacher and intermediate: one).
        quick: apply the config's ``quick`` settings (fewer epochs).
        overrides: ``"teacher.epochs=2"``-style changes of the pipeline config.
        stop_after: ``"teacher"``, ``"intermediate"`` or ``"conversion"``.
        log: progress lines (``None``: silent).

    ``status`` is ``"complete"``, ``"stopped"`` (``stop_after``) or ``"interrupted"``
    (a stage ended before its last epoch, e.g. by ``max_steps``).
    """
    if stop_after is not None and stop_after not in STAGES[:-1]:
        raise ValueError(f"stop_after must be one of {STAGES[:-1]}, got {stop_after!r}")
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    if isinstance(config, Mapping):
        pcfg = copy.deepcopy(dict(config))
        if timesteps is not None:
            pcfg["timesteps"] = int(timesteps)
        for key, value in parse_overrides(overrides):
            set_path(pcfg, key, value)
        pcfg.setdefault("quick", quick)
        _check(pcfg)
    else:
        pcfg = load_pipeline_config(dataset, config, overrides, quick, timesteps)
    pcfg["seeds"] = int(seeds)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(pcfg)
    _claim_run_dir(run_dir, pcfg)
    ctx = _Context(pcfg, run_dir, log or (lambda line: None))
    start = time.perf_counter()
    result: dict[str, Any] = {
        "dataset": pcfg["dataset"],
        "timesteps": pcfg["timesteps"],
        "seeds": seeds,
        "run_dir": str(run_dir),
    }

    def partial(status: str, stage: str) -> dict[str, Any]:
        return {**result, "status": status, "stage": stage}

    teacher = _ann_stage(ctx, "teacher")
    if teacher is None:
        return partial("interrupted", "teacher")
    if stop_after == "teacher":
        return partial("stopped", "teacher")
    intermediate = _ann_stage(ctx, "intermediate")
    if intermediate is None:
        return partial("interrupted", "intermediate")
    if stop_after == "intermediate":
        return partial("stopped", "intermediate")
    conversion = _conversion_stage(ctx, intermediate)
    if stop_after == "conversion":
        return partial("stopped", "conversion")
    students: dict[str, list[dict[str, Any]]] = {}
    base_seed = int(pcfg.get("seed", 0))
    for k in range(seeds):
        for variant in pcfg["variants"]:
            r = _student_stage(ctx, variant, base_seed + k)
            if r is None:
                return partial("interrupted", f"student {variant['name']} seed {base_seed + k}")
            students.setdefault(variant["name"], []).append(r)
    rows = build_rows(teacher, intermediate, conversion, students, pcfg["variants"])
    result.update(
        status="complete",
        stage="done",
        rows=rows,
        conversion=conversion,
        claims=claims(rows, conversion),
        seconds=round(time.perf_counter() - start, 1),
    )
    _write_outputs(ctx, result)
    return result


def load_result(run_dir: str | Path) -> dict[str, Any]:
    """The ``results.json`` of a finished pipeline run."""
    return json.loads((Path(run_dir) / "results.json").read_text())


__all__ = [
    "DATASETS",
    "STAGES",
    "build_rows",
    "claims",
    "config_path",
    "format_table",
    "load_pipeline_config",
    "load_result",
    "run_lasnn",
]
