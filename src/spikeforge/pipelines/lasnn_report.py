"""The LaSNN report's figures: the story of a run in pictures (:mod:`..analysis.figures`).

From a finished :class:`~.lasnn.LaSNNPipeline` run:

1. **accuracy vs T** (log₂ T): the converted SNN's curve, each student as a labelled
   point at its T (mean over seeds, ± std), the teacher and intermediate ANN as
   horizontal lines — where the curve reaches a student's height is the T conversion
   needs for that accuracy;
2. **accuracy vs energy per inference** (µJ, log axis): one point per table row, error
   bars over seeds;
3. **training curves** of every stage (train loss, test loss, test accuracy per epoch,
   read from each stage's ``metrics.jsonl``; students: mean over seeds per epoch — the
   trainer logs no train accuracy);
4. **attention maps**, teacher vs student, at each distilled layer pair of every LaSNN
   variant (its first seed), for :data:`ATTENTION_IMAGES` fixed test images beside the
   input — computed with the method's own functions (:func:`lasnn_attention_maps`);
5. **per-layer firing rates** of each student (mean over seeds).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import sample_indices
from ..engine.build import build_encoder, build_model
from ..engine.checkpoint import load_checkpoint, load_model_state
from ..engine.config import Config
from ..engine.method import build_method
from ..methods.distill.features import student_forward, teacher_forward
from ..methods.distill.lasnn import LaSNN
from ..methods.distill.losses import (
    activation_map,
    normalize_map,
    resize_map,
    spike_activation_map,
)

ATTENTION_IMAGES = 4  # test images shown in the attention figure


# -- 1, 2: accuracy vs T, accuracy vs energy ---------------------------------------------
def accuracy_vs_t_figure(result: Mapping[str, Any]) -> dict[str, Any]:
    """Spec of figure 1 from the pipeline's ``result`` (``conversion`` and ``rows``)."""
    conversion = result["conversion"]
    steps = sorted(int(t) for t in conversion["timesteps"])
    curve = {
        "label": "converted SNN",
        "x": steps,
        "y": [conversion["timesteps"][str(t)]["accuracy"] for t in steps],
    }
    rows = result["rows"]
    hlines = [{"label": r["row"], "y": r["accuracy"]} for r in rows if r.get("init") == "-"]
    points = [
        {"label": r["row"], "x": r["T"], "y": r["accuracy"], "yerr": _err(r)}
        for r in rows
        if "variant" in r
    ]
    claims = result.get("claims") or {}
    note = "Students at their T (numbered in the legend); dashed: the ANNs."
    if claims.get("conversion_t_for_lasnn_accuracy"):
        note += (
            f" Conversion reaches the best LaSNN's accuracy at T="
            f"{claims['conversion_t_for_lasnn_accuracy']} "
            f"({claims['timestep_reduction']:g}x the students' T)."
        )
    elif claims:
        note += f" Conversion does not reach the best LaSNN's accuracy by T={steps[-1]}."
    return {
        "kind": "log_xy",
        "name": "accuracy_vs_T",
        "section": "Accuracy vs time steps",
        "title": "accuracy vs T: conversion curve, students, ANNs",
        "xlabel": "time steps T",
        "ylabel": "test accuracy",
        "base": 2,
        "curves": [curve],
        "points": points,
        "hlines": hlines,
        "note": note,
    }


def _err(row: Mapping[str, Any]) -> float | None:
    return row.get("accuracy_std") if row.get("seeds", 1) > 1 else None


def energy_figure(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Spec of figure 2: one point per table row that has an energy."""
    points = [
        {"label": r["row"], "x": r["energy_uj"], "y": r["accuracy"], "yerr": _err(r)}
        for r in rows
        if r.get("energy_uj") and r.get("accuracy") is not None
    ]
    return {
        "kind": "log_xy",
        "name": "accuracy_vs_energy",
        "section": "Accuracy vs energy per inference",
        "title": "accuracy vs energy per inference (45 nm estimate)",
        "xlabel": "energy per inference (µJ)",
        "ylabel": "test accuracy",
        "base": 10,
        "points": points,
        "note": "One point per table row; error bars: std over seeds (rows with several).",
    }


# -- 3: training curves ------------------------------------------------------------------
def read_metrics(stage_dir: Path) -> list[dict[str, Any]]:
    """The per-epoch records of a stage's ``metrics.jsonl`` (``[]`` if absent)."""
    path = Path(stage_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _mean_by_epoch(runs: Sequence[Sequence[Mapping[str, Any]]], key: str) -> list[list[float]]:
    by_epoch: dict[int, list[float]] = {}
    for records in runs:
        for r in records:
            if r.get(key) is not None:
                by_epoch.setdefault(int(r["epoch"]), []).append(float(r[key]))
    epochs = sorted(by_epoch)
    return [list(map(float, epochs)), [statistics.fmean(by_epoch[e]) for e in epochs]]


def training_curves_figure(stages: Mapping[str, Sequence[Path]]) -> dict[str, Any]:
    """Spec of figure 3: ``stages`` ``{label: [stage directory per seed]}``."""
    runs = {label: [read_metrics(d) for d in dirs] for label, dirs in stages.items()}
    runs = {label: r for label, r in runs.items() if any(r)}
    curves = (
        ("train_loss", "train loss"),
        ("test_loss", "test loss"),
        ("train_acc", "train accuracy"),
        ("test_acc", "test accuracy"),
    )
    panels = []
    for key, title in curves:
        series = {label: _mean_by_epoch(r, key) for label, r in runs.items()}
        series = {label: xy for label, xy in series.items() if xy[0]}  # stages that log it
        if series:  # (train accuracy: not in runs from before it was logged)
            panels.append({"title": title, "ylabel": title, "series": series})
    return {
        "kind": "lines",
        "name": "training_curves",
        "section": "Training curves",
        "title": "training curves of every stage",
        "panels": panels,
        "note": "Per epoch, from each stage's metrics.jsonl; students: mean over seeds. "
        "Train loss is the mean of the epoch's batch losses, which for a distilled "
        "student includes its distillation terms; train accuracy scores the training "
        "forwards themselves (train mode, augmented inputs).",
    }


# -- 4: attention maps -------------------------------------------------------------------
def lasnn_attention_maps(
    method: LaSNN, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
) -> list[dict[str, Any]]:
    """The maps the LaSNN loss compares, per layer pair: ``[{"teacher", "student",
    "teacher_map" [B, H, W], "student_map" [B, H, W]}, ...]``, both normalised to unit
    L2 norm per image exactly as in the loss (``F(A) = Σ_c |A_c|^p`` of the teacher's
    output and of the student's rate, or the gradient scheme's input-gradient map and
    spike activation map; the teacher's map resized to the student's H×W first).

    ``inputs``: the student's ``[T, B, C, H, W]``; the teacher sees
    ``method.teacher_input(inputs)``, as in training.
    """
    method.eval()
    model.eval()
    with torch.no_grad():
        _, s_feats, s_outs = student_forward(
            model, inputs, [s for _, s in method.pairs], method.student_features
        )
    images = method.teacher_input(inputs)
    if method.uses_gradient:
        _, t_feats, grad_maps = method.teacher_pass(images, targets)
    else:
        _, t_feats = teacher_forward(method.teacher, images, [t for t, _ in method.pairs])
        grad_maps = []
    out = []
    for i, (t_name, s_name) in enumerate(method.pairs):
        if method.uses_activation:  # "both": the activation maps are shown
            s_map = activation_map(s_feats[s_name], method.p)
            t_map = activation_map(t_feats[t_name], method.p)
        else:
            s_map = spike_activation_map(s_outs[s_name], method.gamma)
            t_map = grad_maps[i]
        size = s_map.shape[-2:]
        t_map = resize_map(t_map.detach(), size)
        out.append(
            {
                "teacher": t_name,
                "student": s_name,
                "teacher_map": normalize_map(t_map).view(-1, *size),
                "student_map": normalize_map(s_map.detach()).view(-1, *size),
            }
        )
    return out


def student_with_teacher(config: Config, checkpoint: Path, train_set: Any) -> tuple[Any, Any]:
    """A distilled student rebuilt from its checkpoint with its (frozen) teacher: the
    ``(model, method)`` of ``config`` (a LaSNN student's engine config; a method wrapped
    by ``train.regularizers`` is unwrapped: the maps are the distillation's)."""
    model = build_model(config, train_set)
    load_model_state(model, load_checkpoint(checkpoint)["model"], str(checkpoint))
    method = build_method(config, False, model, train_set)
    return model, getattr(method, "method", method)


def attention_figure(
    label: str, method: LaSNN, model: nn.Module, config: Config, test_set: Any
) -> dict[str, Any]:
    """Spec of figure 4 for one LaSNN student: the input and, per pair, teacher and
    student maps for :data:`ATTENTION_IMAGES` seeded test images."""
    indices = sample_indices(len(test_set), min(ATTENTION_IMAGES, len(test_set)))
    samples = [test_set[int(i)] for i in indices]
    images = torch.stack([x for x, _ in samples])
    targets = torch.tensor([int(y) for _, y in samples])
    encoder = build_encoder(config)
    generator = torch.Generator().manual_seed(config.train.seed)
    inputs = encoder(images, generator=generator) if encoder is not None else images
    maps = lasnn_attention_maps(method, model, inputs, targets)
    shown = images.clamp(0, 1) if images.min() >= 0 else (images + 1) / 2  # signed: [-1, 1]
    columns = ["input"]
    for m in maps:
        columns += [f"teacher\n{m['teacher']}", f"student\n{m['student']}"]
    rows = []
    for b in range(len(samples)):
        cells: list[dict[str, Any]] = [{"image": shown[b].tolist()}]
        for m in maps:
            cells += [{"map": m["teacher_map"][b].tolist()}, {"map": m["student_map"][b].tolist()}]
        rows.append({"label": f"test #{int(indices[b])}", "cells": cells})
    scheme = "activation" if method.uses_activation else "gradient"
    return {
        "kind": "heatmaps",
        "name": f"attention_{label}",
        "section": "Attention maps: teacher vs student",
        "title": f"{label}: {scheme} attention, teacher vs student",
        "columns": columns,
        "rows": rows,
        "note": f"{label}: the normalised maps its loss compares at each distilled layer "
        "pair (teacher map resized to the student's H×W), for fixed test images.",
    }


# -- 5: firing rates ---------------------------------------------------------------------
def firing_rates_figure(
    students: Mapping[str, Sequence[Mapping[str, Any]]], labels: Mapping[str, str]
) -> dict[str, Any] | None:
    """Spec of figure 5: per spiking layer, each student's firing rate (mean over seeds);
    ``None`` when no student recorded one."""
    series: dict[str, dict[str, float]] = {}
    for name, label in labels.items():
        per_layer: dict[str, list[float]] = {}
        for r in students.get(name, []):
            for layer, rate in (r.get("layer_firing_rates") or {}).items():
                per_layer.setdefault(layer, []).append(float(rate))
        if per_layer:
            series[label] = {k: statistics.fmean(v) for k, v in per_layer.items()}
    if not series:
        return None
    layers = list(dict.fromkeys(layer for rates in series.values() for layer in rates))
    return {
        "kind": "bars",
        "name": "firing_rates",
        "section": "Per-layer firing rates",
        "title": "firing rate per spiking layer (test set)",
        "xlabel": "spikes per neuron per time step",
        "labels": layers,
        "series": {s: [rates.get(layer) for layer in layers] for s, rates in series.items()},
        "note": "Mean over seeds; a student whose model lacks a layer has no bar there.",
    }
