"""Equilibrium IF network on digits: implicit vs phantom gradients (accuracy, time, how
many adjoint solves fell back), and the autograd memory against the simulated steps.

Usage::

    spikeforge bench equilibrium [--out DIR]

Results go to ``runs/bench/equilibrium`` unless ``--out`` says otherwise (see
:mod:`.results`).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence

import torch

from ..engine.config import load_config
from ..engine.run import train
from ..models.equilibrium import EquilibriumSpikingLayer
from .device import saved_bytes
from .results import command, make_parser, out_dir

NAME = "equilibrium"
CONFIG = "digits_equilibrium"  # shipped config
SEEDS = 3


def saved_kib(t_conv: int) -> float:
    """KiB autograd keeps for backward: one layer, batch 64, 64 inputs, 128 neurons."""
    torch.manual_seed(0)
    layer = EquilibriumSpikingLayer(64, 128, t_conv=t_conv)
    x = torch.rand(64, 64)
    return saved_bytes(lambda: layer(x).sum()) / 1024


def main(argv: Sequence[str] | None = None) -> int:
    """``spikeforge bench equilibrium [--out DIR]``."""
    args = make_parser(NAME, __doc__).parse_args(argv)
    rows = []
    for backward in ("implicit", "phantom"):
        accs, seconds, fallbacks = [], [], []
        for seed in range(SEEDS):
            overrides = [
                f"model.kwargs={{width: 128, t_conv: 32, backward: {backward}}}",
                f"train.seed={seed}", "train.progress=false", "train.tensorboard=false",
                "train.run_dir=/tmp/spikeforge-equilibrium",
                f"train.run_name={backward}-{seed}-{time.time_ns()}",
            ]  # fmt: skip
            start = time.perf_counter()
            trainer, final = train(load_config(CONFIG, overrides))
            seconds.append(time.perf_counter() - start)
            accs.append(final["test_acc"])
            layer = trainer.model.layer
            fallbacks.append(layer.unconverged_solves / max(1, layer.solves))
        rows.append({"backward": backward, "accs": accs, "mean": statistics.mean(accs),
                     "std": statistics.stdev(accs), "seconds": statistics.mean(seconds),
                     "fallback_fraction": fallbacks})  # fmt: skip
        print(backward, f"{rows[-1]['mean']:.4f}", fallbacks, flush=True)
    memory = {t: saved_kib(t) for t in (16, 64, 256)}
    out = out_dir(args.out)
    date = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    (out / "equilibrium_digits.json").write_text(
        json.dumps({"date": date, "rows": rows, "saved_KiB_by_t_conv": memory}, indent=2)
    )
    lines = ["# Equilibrium IF network on digits: implicit vs phantom gradients", "",
             f"Command: `{command(NAME, [])}` (`configs/digits_equilibrium.yaml`:"
             f" 128 IF neurons, t_conv = 32, 15 epochs, seeds 0..{SEEDS - 1}); {date}. "
             "Fallbacks: share of adjoint solves that did not converge within solver_iters (100)"
             " and used the phantom gradient instead.", "",
             "| backward | test accuracy (mean ± std) | per seed | s / run | fallbacks |",
             "|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['backward']} | {r['mean']:.4f} ± {r['std']:.4f} | "
                     f"{', '.join(f'{a:.4f}' for a in r['accs'])} | {r['seconds']:.1f} | "
                     f"{', '.join(f'{f:.0%}' for f in r['fallback_fraction'])} |")  # fmt: skip
    lines += [
        "",
        "Autograd's saved tensors for one layer (batch 64): "
        + ", ".join(f"t_conv = {t}: {kib:.0f} KiB" for t, kib in memory.items()),
    ]
    (out / "equilibrium_digits.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
