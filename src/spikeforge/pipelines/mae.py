r"""Spikformer V2 masked-image pretraining, then fine-tuning (METHODS §13) as one
resumable run: ``spikeforge run mae --dataset cifar10-small`` (or :func:`run_mae`).

Stages (every one an engine config from ``configs/mae_<dataset>.yaml``: ``base`` merged
with the stage's sections, trained by the engine's trainer):

1. **pretrain** — ``train.method=mae`` on ``spikformer_v2_mae_*`` at ``T = 1`` (the
   config's ``pretrain.data.timesteps``): the training images without their labels, the
   test images for the test reconstruction loss. ``RUN/pretrain/`` also gets
   ``report.html`` (original / masked input / reconstruction of a few test images and
   the loss curve) and ``reconstructions.png``.
2. **variants** — for every T of ``timesteps`` and every seed, each variant in
   ``RUN/<variant>/T<T>/seed<k>/``: ``finetune`` merged with the variant's ``config``;
   ``init: pretrained`` adds ``model.kwargs.pretrained=RUN/pretrain/last.pt`` (the
   encoder only: the decoder is dropped), ``init: scratch`` trains from a fresh
   initialisation with the same budget.

One comparison table (accuracy mean ± std over seeds, firing rate, energy per inference
in µJ on a seeded sample of test images) goes to ``RUN/results.json``, ``results.md`` and
``report.html``, with the verdict per T: does pretraining beat scratch by more than the
seeds' spread (``mean_pre − mean_scratch > std_pre + std_scratch``)? Stage-level resume
is :mod:`.runner`'s; ``stop_after="pretrain"`` ends after the first stage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..analysis.inference import measure_inference
from ..analysis.mae_report import comparison_image, png_data_uri, render_mae_report
from ..engine.config import Config, load_structured
from ..models.spikformer_v2 import upsample_mask
from .runner import PipelineConfig, PipelineRun, load_pipeline_config
from .table import accuracy_cell, fmt, markdown, mean_std, seed_row, write_outputs

STAGES = ("pretrain", "finetune")
INITS = ("pretrained", "scratch")
HEADER = ("model", "init", "T", "accuracy", "firing rate", "energy (µJ)", "train s", "seeds")


@dataclass
class MAEVariant:
    """One fine-tuned row: its label, initialisation and engine-config changes."""

    label: str = ""
    init: str = "scratch"  # pretrained | scratch
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class MAEConfig(PipelineConfig):
    """``configs/mae_<dataset>.yaml``; see the module docstring."""

    pipeline: str = "mae"
    timesteps: list[int] = field(default_factory=lambda: [1, 4])
    energy_samples: int = 256
    report_images: int = 6
    pretrain: dict[str, Any] = field(default_factory=dict)
    finetune: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, MAEVariant] = field(default_factory=dict)
    only: list[str] = field(default_factory=list)  # variants to run (empty: all)


def default_run_dir(config: MAEConfig, quick: bool) -> Path:
    dataset = str(config.base.get("data", {}).get("name", "data"))
    return Path("runs") / f"mae-{dataset}{'-quick' if quick else ''}"


def load_config(
    dataset: str = "cifar10-small",
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    quick: bool = False,
    run_dir: str | Path | None = None,
) -> MAEConfig:
    """The pipeline config (``mae_<dataset>`` by default), checked."""
    config = load_pipeline_config(
        MAEConfig,
        path if path is not None else f"mae_{dataset.replace('-', '_')}",
        list(overrides),
        quick,
        run_dir,
        default_run_dir,
    )
    if not config.timesteps or min(config.timesteps) < 1:
        raise ValueError(f"timesteps must be a non-empty list of T >= 1, got {config.timesteps}")
    if config.report_images < 0:
        raise ValueError(f"report_images must be >= 0, got {config.report_images}")
    for name, variant in config.variants.items():
        if variant.init not in INITS:
            raise ValueError(f"variants.{name}.init must be one of {INITS}, got {variant.init!r}")
    sections = {"base": config.base, "pretrain": config.pretrain, "finetune": config.finetune}
    sections |= {f"variants.{n}.config": v.config for n, v in config.variants.items()}
    for key, section in sections.items():
        load_structured(Config, section, where=key)
    unknown = [n for n in config.only if n not in config.variants]
    if unknown:
        raise ValueError(
            f"only names unknown variants {unknown}; variants: {list(config.variants)}"
        )
    return config


class MAEPipeline:
    """The stages of one run (engine configs built up front, so that a mistake in a
    fine-tuning section fails before pretraining runs for an hour)."""

    def __init__(self, config: MAEConfig, log: Callable[[str], None]) -> None:
        self.config = c = config
        self.run = PipelineRun(
            "mae", Path(str(config.run_dir)), log, report_only=config.report_only
        )
        self.pretrain = self.run.engine_config(
            "pretrain", c.base, c.pretrain, {"train": {"seed": c.seed}}
        )
        checkpoint = str(self.run.stage_dir("pretrain") / "last.pt")
        names = c.only or list(c.variants)
        self.stages: dict[tuple[str, int, int], Config] = {}
        for steps in c.timesteps:
            for k in range(c.seeds):
                for name in names:
                    variant = c.variants[name]
                    init = (
                        {"model": {"kwargs": {"pretrained": checkpoint}}}
                        if variant.init == "pretrained"
                        else {}
                    )
                    self.stages[name, steps, c.seed + k] = self.run.engine_config(
                        self.stage_name(name, steps, c.seed + k),
                        c.base,
                        c.finetune,
                        variant.config,
                        init,
                        {"data": {"timesteps": steps}, "train": {"seed": c.seed + k}},
                    )
        self.run.stage_total = 1 + len(self.stages)

    @staticmethod
    def stage_name(variant: str, steps: int, seed: int) -> str:
        return f"{variant}/T{steps}/seed{seed}"

    # -- summaries ----------------------------------------------------------------------
    def pretrain_summary(self, trainer: Any, result: dict[str, Any]) -> dict[str, Any]:
        """Reconstruction losses (the trainer's accuracy means nothing here), the
        pictures and the report."""
        history = [
            {"epoch": r["epoch"], "train_loss": r["train_loss"], "test_loss": r.get("test_loss")}
            for r in trainer.history
        ]
        model = trainer.model
        directory = self.run.stage_dir("pretrain")
        uri = None
        if self.config.report_images:
            picture = comparison_image(self.reconstructions(trainer))
            picture.save(directory / "reconstructions.png")
            uri = png_data_uri(picture)
        meta = {
            "model": trainer.config.model.name,
            "dataset": trainer.config.data.name,
            "T": trainer.config.data.timesteps,
            "mask ratio": model.mask_ratio,
            "normalised-pixel loss": model.norm_pix_loss,
            "pictures": (
                "predicted patches de-normalised with each true patch's mean and std (as "
                "MAE's visualisation)"
                if model.norm_pix_loss
                else "predicted pixels"
            ),
            "epochs": trainer.position.epoch,
            "encoder parameters": sum(p.numel() for p in model.encoder.parameters()),
            "decoder parameters": sum(p.numel() for p in model.decoder.parameters()),
            "test reconstruction loss": fmt(history[-1]["test_loss"] if history else None),
        }
        html = render_mae_report("Spikformer V2 masked pretraining", meta, history, uri)
        (directory / "report.html").write_text(html, encoding="utf-8")
        loss = history[-1]["test_loss"] if history else None
        self.run.log(f"[mae pretrain] test reconstruction loss {fmt(loss)} (masked patches)")
        return {
            "accuracy": None,  # no classes (NaN would be invalid JSON)
            "best_accuracy": None,
            "reconstruction_loss": loss,
            "history": history,
            "train_seconds": trainer.history[-1]["seconds"] if trainer.history else None,
        }

    @torch.no_grad()
    def reconstructions(self, trainer: Any) -> list[torch.Tensor]:
        """Original, masked input (masked patches grey) and reconstruction (predicted
        patches, the visible ones pasted from the original, as MAE shows them) of the
        first ``report_images`` of a seeded sample of test images, each ``[n, C, H, W]``."""
        model = trainer.model
        images = self.run.test_images(trainer.config, self.config.report_images)
        model.eval()
        generator = torch.Generator().manual_seed(self.config.seed)
        inputs = trainer.encode(images, torch.Generator().manual_seed(self.config.seed))
        visible = model.random_visible(images.shape[0], generator)
        out = model(inputs, visible)
        images = images.to(out["pred"].device)
        mask = upsample_mask(visible.to(images), model.patch).unsqueeze(1)
        predicted = model.reconstruct(out["pred"], images)
        masked = images * mask + 0.5 * (1 - mask)
        return [images, masked, images * mask + predicted * (1 - mask)]

    def finetune_summary(self, trainer: Any, result: dict[str, Any]) -> dict[str, Any]:
        config = trainer.config
        images = self.run.test_images(config, self.config.energy_samples)
        steps = config.data.timesteps
        x = images.unsqueeze(0).expand(steps, *images.shape).contiguous()
        device = next(trainer.model.parameters()).device
        measured = measure_inference(trainer.model, x.to(device))
        seconds = trainer.history[-1]["seconds"] if trainer.history else None
        return {**measured, "train_seconds": seconds}

    # -- the run ------------------------------------------------------------------------
    def execute(self, stop_after: str | None) -> dict[str, Any]:
        c, run = self.config, self.run
        result: dict[str, Any] = {
            "dataset": self.pretrain.data.name,
            "timesteps": list(c.timesteps),
            "seeds": c.seeds,
            "run_dir": str(run.run_dir),
        }
        pretrain = run.train("pretrain", self.pretrain, self.pretrain_summary)
        if pretrain is None:  # report_only: nothing to report before pretraining ends
            status = "partial" if run.report_only else "interrupted"
            return {**result, "status": status, "stage": "pretrain", "missing": run.missing}
        result["pretrain"] = {k: pretrain.get(k) for k in ("reconstruction_loss", "history")}
        result["pretrain"]["train_seconds"] = pretrain.get("train_seconds")
        if stop_after == "pretrain":
            return {**result, "status": "stopped", "stage": "pretrain"}
        finished: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for (name, steps, seed), config in self.stages.items():
            stage = self.stage_name(name, steps, seed)
            r = run.train(stage, config, self.finetune_summary)
            if r is None and run.report_only:
                continue
            if r is None:
                return {**result, "status": "interrupted", "stage": stage}
            r["init"] = c.variants[name].init
            finished.setdefault((name, steps), []).append(r)
        rows = table_rows(c, finished)
        result.update(
            status=run.status(),
            stage="done",
            missing=run.missing,
            rows=rows,
            claims=claims(rows),
            seconds=round(time.perf_counter() - run.started, 1),
        )
        report = {
            "title": f"Spikformer V2: masked pretraining vs scratch ({result['dataset']})",
            "meta": {"dataset": result["dataset"], "seeds": c.seeds, "T": list(c.timesteps)},
            "tables": {
                "comparison": [
                    {h: cell for h, cell in zip(HEADER, _cells(r), strict=True)} for r in rows
                ],
                "verdicts": [{"T": t, **v} for t, v in result["claims"].items()],
            },
            "figures": pretraining_curve(result["pretrain"].get("history") or []),
        }
        report["meta"]["pretraining pictures"] = "pretrain/report.html"
        write_outputs(run.run_dir, result, format_table(result), report)
        return result


def pretraining_curve(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pipeline report's figure: the masked pretraining's train and test
    reconstruction losses per epoch (a ``lines`` spec; none without a history)."""
    series = {}
    for key, label in (("train_loss", "train"), ("test_loss", "test")):
        points = [(r["epoch"], r[key]) for r in history if r.get(key) is not None]
        if points:
            series[label] = [[e for e, _ in points], [v for _, v in points]]
    if not series:
        return []
    return [{
        "kind": "lines", "name": "pretraining_loss", "section": "Masked pretraining",
        "title": "reconstruction loss per epoch",
        "panels": [{"title": "reconstruction loss", "ylabel": "loss", "series": series}],
        "note": "Loss on the masked patches (normalised pixels); pictures of the "
        "reconstructions: pretrain/report.html.",
    }]  # fmt: skip


def table_rows(
    config: MAEConfig, finished: dict[tuple[str, int], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """One row per (T, variant), variants in config order."""
    rows = []
    for steps in config.timesteps:
        for name, variant in config.variants.items():
            results = finished.get((name, steps))
            if results:
                label = variant.label or name
                seconds = mean_std([r.get("train_seconds") for r in results])[0]
                rows.append(
                    seed_row(label, results, variant=name, init=variant.init, train_seconds=seconds)
                )
    return rows


def claims(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per T: pretrained minus scratch accuracy (the first variant of each init), the
    seeds' spread (sum of the two stds) and whether the gain exceeds it."""
    out: dict[str, dict[str, Any]] = {}
    for steps in dict.fromkeys(r["T"] for r in rows):
        at = [r for r in rows if r["T"] == steps]
        pre = next((r for r in at if r["init"] == "pretrained"), None)
        scratch = next((r for r in at if r["init"] == "scratch"), None)
        if pre is None or scratch is None:
            continue
        gain = pre["accuracy"] - scratch["accuracy"]
        spread = (pre["accuracy_std"] or 0.0) + (scratch["accuracy_std"] or 0.0)
        out[str(steps)] = {
            "pretrained": pre["variant"],
            "scratch": scratch["variant"],
            "gain": gain,
            "spread": spread,
            # judged only when both rows have seeds to spread (a 1-seed row's std is 0)
            "beats_scratch_beyond_spread": (
                bool(gain > spread) if pre["seeds"] > 1 and scratch["seeds"] > 1 else None
            ),
        }
    return out


def _cells(row: dict[str, Any]) -> list[str]:
    energy = fmt(row.get("energy_uj"), 3)
    seconds = row.get("train_seconds")  # fine-tuning only (mean over seeds)
    shown = "-" if seconds is None else f"{seconds:.0f}"
    return [row["row"], row["init"], str(row["T"]), accuracy_cell(row), fmt(row["firing_rate"]),
            energy, shown, str(row["seeds"])]  # fmt: skip


def format_table(result: dict[str, Any]) -> str:
    """The comparison as a Markdown table (``train s``: a fine-tuning's wall seconds, mean
    over seeds), the pretraining's seconds, then one verdict line per T."""
    lines = [_cells(r) for r in result.get("rows", [])]
    text = markdown(HEADER, lines, numeric_from=2)
    pretrain = result.get("pretrain") or {}
    if pretrain.get("train_seconds") is not None:
        loss = pretrain.get("reconstruction_loss")
        shown = "" if loss is None else f", test reconstruction loss {loss:.4f}"
        text += f"\nmasked pretraining: {pretrain['train_seconds']:.0f} s{shown}"
    for steps, v in result.get("claims", {}).items():
        verdict = v["beats_scratch_beyond_spread"]
        said = {True: "beats", False: "does NOT beat", None: "cannot be judged (1 seed) vs"}
        text += (
            f"\nT={steps}: pretrained {said[verdict]} scratch beyond the seeds' spread "
            f"(gain {v['gain']:+.4f}, spread {v['spread']:.4f})"
        )
    return text


def run_mae(
    dataset: str = "cifar10-small",
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
    """Run (or resume) the pipeline; returns the result (``status``, ``rows``, ...).

    Args:
        dataset: picks the config ``mae_<dataset>`` when ``config`` is not given.
        config: a pipeline YAML path or shipped config name.
        run_dir: where every stage lives (default ``runs/mae-<dataset>``); re-run with
            the same directory to resume.
        timesteps: fine-tune at this one T (default: the config's list, ``[1, 4]``).
        seeds: fine-tuning seeds ``seed, seed+1, ...`` (pretraining: one).
        quick: apply the config's ``quick`` overrides.
        overrides: ``"pretrain.train.epochs=2"``-style changes of the pipeline config.
        stop_after: ``"pretrain"``.
        log: progress lines (``None``: silent).
    """
    if stop_after is not None and stop_after != "pretrain":
        raise ValueError(f"stop_after must be 'pretrain' (or nothing), got {stop_after!r}")
    extra = list(overrides)
    if timesteps is not None:
        extra.append(f"timesteps=[{int(timesteps)}]")
    if seeds is not None:
        if seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {seeds}")
        extra.append(f"seeds={int(seeds)}")
    settings = load_config(dataset, config, extra, quick, run_dir)
    return MAEPipeline(settings, log or (lambda line: None)).execute(stop_after)


__all__ = ["STAGES", "MAEConfig", "format_table", "load_config", "run_mae"]
