"""How much of BPTT's gradient flows through time, at initialisation and after training.

:func:`temporal_gradient_similarity` (the T-RevSNN paper's analysis) compares, on one
batch, the full BPTT gradient of the mean per-step cross-entropy with the gradient of the
same loss when every temporal path is dropped (SLTT's, :mod:`spikeforge.methods.online`):
their cosine similarity per parameter tensor and over all parameters at once. Near 1, the
temporal paths add little and the online methods lose little; far below 1, the task's
credit assignment runs through time. With BatchNorm the two gradients also differ in
their batch statistics (over T·B for the whole sequence, over B for one step).

The benchmark (:func:`main`): for each task of :mod:`.online_training`, that cosine on
four training batches, once on the freshly initialised model, once after training it with
BPTT (the task's config).

Usage::

    spikeforge bench temporal_gradients [--out DIR]

Results go to ``runs/bench/temporal_gradients`` unless ``--out`` says otherwise (see
:mod:`.results`).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..engine.config import load_config
from ..engine.run import make_trainer
from ..methods.online import SLTT
from .online_training import TASKS, batch  # the same tasks and batches
from .results import command, make_parser, out_dir

NAME = "temporal_gradients"
BATCHES = 4


def _flat_grads(model: nn.Module) -> dict[str, torch.Tensor]:
    return {
        n: p.grad.detach().flatten().clone()
        for n, p in model.named_parameters()
        if p.grad is not None
    }


def temporal_gradient_similarity(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, objective: str = "ce_per_step"
) -> dict[str, float | dict[str, float]]:
    """Cosine similarity between BPTT's and SLTT's gradient of one per-step objective.

    Args:
        model: any model SLTT can step (neurons that carry state step to step).
        inputs: ``[T, B, ...]``; targets: ``[B]`` class indices.
        objective: a per-step objective (:data:`spikeforge.methods.online.PER_STEP_OBJECTIVES`).

    Returns:
        ``{"overall": cos, "per_parameter": {name: cos}}``; a parameter whose gradient is
        zero under either method is left out of ``per_parameter`` (its cosine is undefined)
        but counts in ``overall``. The model's ``.grad`` fields are cleared afterwards.
    """
    sltt = SLTT(objective)
    was_training = model.training
    model.train()
    try:
        model.zero_grad(set_to_none=True)
        output = model(inputs)
        sltt.sequence_loss(output, targets).backward()
        full = _flat_grads(model)
        model.zero_grad(set_to_none=True)
        sltt(model, inputs, targets)
        dropped = _flat_grads(model)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    names = [n for n in full if n in dropped]
    per_parameter = {}
    for n in names:
        a, b = full[n], dropped[n]
        if a.norm() > 0 and b.norm() > 0:
            per_parameter[n] = float(torch.nn.functional.cosine_similarity(a, b, dim=0))
    a = torch.cat([full[n] for n in names])
    b = torch.cat([dropped[n] for n in names])
    overall = float(torch.nn.functional.cosine_similarity(a, b, dim=0))
    return {"overall": overall, "per_parameter": per_parameter}


# ------------------------------------------------------------------------- benchmark


def similarities(trainer: Any, config: Any) -> dict[str, Any]:
    """Overall cosine per batch, and each parameter's cosine averaged over the batches."""
    overall, per = [], {}
    for i in range(BATCHES):
        inputs, y = batch(config, trainer.train_set, i * config.data.batch_size)
        result = temporal_gradient_similarity(trainer.model, inputs, y)
        overall.append(result["overall"])
        for name, cos in result["per_parameter"].items():
            per.setdefault(name, []).append(cos)
    return {"overall": overall, "per_parameter": {n: statistics.mean(c) for n, c in per.items()}}


def _mean_and_values(xs: list[float]) -> str:
    return f"{statistics.mean(xs):.3f} ({', '.join(f'{x:.3f}' for x in xs)})"


def main(argv: Sequence[str] | None = None) -> int:
    """``spikeforge bench temporal_gradients [--out DIR]``."""
    args = make_parser(NAME, __doc__).parse_args(argv)
    rows = []
    for task, (config_file, overrides) in TASKS.items():
        extra = ["train.progress=false", "train.tensorboard=false", "train.epochs=10"]
        config = load_config(config_file, [*overrides, *extra])
        run_dir = Path("/tmp/spikeforge-temporal-gradients") / f"{task}-{time.time_ns()}"
        trainer = make_trainer(config, run_dir)
        at_init = similarities(trainer, config)
        final = trainer.fit()
        trained = similarities(trainer, config)
        rows.append({"task": task, "at_init": at_init, "trained": trained,
                     "test_acc": final["test_acc"]})  # fmt: skip
        print(task, f"{statistics.mean(at_init['overall']):.3f}",
              f"{statistics.mean(trained['overall']):.3f}")  # fmt: skip
    out = out_dir(args.out)
    (out / "temporal_gradients.json").write_text(json.dumps(rows, indent=2))
    lines = ["# Cosine similarity: BPTT gradient vs temporal paths dropped (SLTT)", "",
             f"Command: `{command(NAME, [])}` (each task's config, 10 "
             f"epochs of BPTT, seed 0; mean over {BATCHES} training batches; loss: mean of "
             f"per-step CE); {time.strftime('%Y-%m-%d %H:%M:%S %Z')}. With BatchNorm the two "
             "gradients also differ in batch statistics (over T·B vs one step's B). "
             "Per parameter: each tensor's cosine averaged over the batches, the lowest one "
             "shown (tensors with a zero gradient are left out).", "",
             "| task | overall, at init | overall, trained | lowest per parameter, trained |"
             " BPTT test accuracy |",
             "|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        per = r["trained"]["per_parameter"]
        low = min(per, key=per.get)
        lines.append(f"| {r['task']} | {_mean_and_values(r['at_init']['overall'])} | "
                     f"{_mean_and_values(r['trained']['overall'])} | {per[low]:.3f} (`{low}`) "
                     f"| {r['test_acc']:.4f} |")  # fmt: skip
    (out / "temporal_gradients.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
