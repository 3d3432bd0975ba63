"""How much of BPTT's gradient flows through time, at initialisation and after training.

For each task of ``benchmarks/online_training.py``, the cosine similarity between the
full BPTT gradient of the mean per-step cross-entropy and the same gradient with every
temporal path dropped (SLTT's), on four training batches
(:func:`spikeforge.analysis.temporal_gradients.temporal_gradient_similarity`): once on
the freshly initialised model, once after training it with BPTT (the task's config).

Usage::

    python benchmarks/temporal_gradients.py
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from online_training import ROOT, TASKS, batch  # the same tasks and batches

from spikeforge.analysis.temporal_gradients import temporal_gradient_similarity
from spikeforge.engine.config import load_config
from spikeforge.engine.run import make_trainer

BATCHES = 4


def similarities(trainer, config) -> dict:
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


def main() -> None:
    rows = []
    for task, (config_file, overrides) in TASKS.items():
        extra = ["train.progress=false", "train.tensorboard=false", "train.epochs=10"]
        config = load_config(ROOT / "configs" / config_file, [*overrides, *extra])
        run_dir = Path("/tmp/spikeforge-temporal-gradients") / f"{task}-{time.time_ns()}"
        trainer = make_trainer(config, run_dir)
        at_init = similarities(trainer, config)
        final = trainer.fit()
        trained = similarities(trainer, config)
        rows.append({"task": task, "at_init": at_init, "trained": trained,
                     "test_acc": final["test_acc"]})  # fmt: skip
        print(task, f"{statistics.mean(at_init['overall']):.3f}",
              f"{statistics.mean(trained['overall']):.3f}")  # fmt: skip
    out = ROOT / "benchmarks" / "results"
    (out / "temporal_gradients.json").write_text(json.dumps(rows, indent=2))
    lines = ["# Cosine similarity: BPTT gradient vs temporal paths dropped (SLTT)", "",
             "Command: `python benchmarks/temporal_gradients.py` (each task's config, 10 "
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


if __name__ == "__main__":
    main()
