"""Accuracy of LIF vs the parallel neuron family on sequential data (same net, same budget).

Every neuron is injected by name into the same ``spiking_mlp`` of the dataset's config
(``configs/seq_mnist_small_mlp.yaml`` or ``configs/fsdd_mlp.yaml``) and trained by the
one trainer with the same optimiser, epochs and seeds; only the neuron differs. Reports
mean ± std of the final test accuracy over seeds.

Usage::

    python benchmarks/parallel_accuracy.py --dataset seq-mnist-small --epochs 3 --seeds 3
    python benchmarks/parallel_accuracy.py --dataset fsdd --epochs 8 --seeds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from spikeforge.engine.config import load_config
from spikeforge.engine.run import train

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"seq-mnist-small": ("seq_mnist_small_mlp.yaml", 28), "fsdd": ("fsdd_mlp.yaml", 100)}


def neurons(steps: int) -> dict[str, tuple[str, dict]]:
    """Label -> (registered neuron, options); fixed-T neurons get the data's T."""
    return {
        "LIF": ("lif", {}),
        "PSN": ("psn", {"T": steps}),
        "masked PSN k=4": ("masked_psn", {"T": steps, "k": 4, "mask_progress": 1.0}),
        "sliding PSN k=4": ("sliding_psn", {"k": 4}),
        "PSU": ("psu", {"T": steps}),
        "IPSU": ("ipsu", {"T": steps}),
        "RPSU": ("rpsu", {"T": steps}),
        "ParaLIF-SB": ("paralif", {"spike_fn": "SB"}),
        "ParaLIF-T": ("paralif", {"spike_fn": "T"}),
        "ParaLIF-D": ("paralif", {"spike_fn": "D"}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(CONFIGS), default="seq-mnist-small")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="neuron labels to run (default all)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--run-dir", default="/tmp/spikeforge-parallel-accuracy")
    args = parser.parse_args()
    config_file, steps = CONFIGS[args.dataset]
    rows = []
    for label, (name, options) in neurons(steps).items():
        if args.only and label not in args.only:
            continue
        accs, seconds = [], []
        for seed in range(args.seeds):
            overrides = [
                f"model.neuron={name}",
                f"model.neuron_kwargs={json.dumps(options)}",
                f"train.epochs={args.epochs}",
                f"train.seed={seed}",
                "train.progress=false",
                f"train.run_dir={args.run_dir}",
                f"train.run_name={args.dataset}-{name}-{len(rows)}-{seed}-{time.time_ns()}",
            ]
            start = time.perf_counter()
            _, final = train(load_config(ROOT / "configs" / config_file, overrides))
            seconds.append(time.perf_counter() - start)
            accs.append(final["test_acc"])
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        rows.append({"neuron": label, "accs": accs, "mean": statistics.mean(accs), "std": std,
                     "seconds_per_run": statistics.mean(seconds)})  # fmt: skip
        print(f"{label:18s} {rows[-1]['mean']:.4f} ± {std:.4f}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"parallel_accuracy_{args.dataset}"
    command = (f"python benchmarks/parallel_accuracy.py --dataset {args.dataset} "
               f"--epochs {args.epochs} --seeds {args.seeds}")  # fmt: skip
    meta = {"command": command, "config": f"configs/{config_file}", "epochs": args.epochs,
            "seeds": args.seeds, "load_average_at_end": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}  # fmt: skip
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [f"# {args.dataset}: LIF vs parallel neurons (same spiking_mlp, same budget)", "",
             f"Command: `{command}` ({args.epochs} epochs, seeds 0..{args.seeds - 1}, "
             f"config `configs/{config_file}`); {meta['date']}.", "",
             "| neuron | test accuracy (mean ± std) | per seed | s / run |",
             "|---|---|---|---|"]  # fmt: skip
    for r in rows:
        per_seed = ", ".join(f"{a:.4f}" for a in r["accs"])
        lines.append(f"| {r['neuron']} | {r['mean']:.4f} ± {r['std']:.4f} | {per_seed} | "
                     f"{r['seconds_per_run']:.0f} |")  # fmt: skip
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
