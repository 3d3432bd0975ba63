"""Accuracy of LIF vs the parallel neuron family on sequential data (same net, same budget).

Every neuron is injected by name into the same ``spiking_mlp`` of the dataset's config
(``configs/seq_mnist_small_mlp.yaml`` or ``configs/fsdd_mlp.yaml``) and trained by the
one trainer with the same optimiser, epochs and seeds; only the neuron differs. Reports
mean ± std of the final test accuracy over seeds.

Usage::

    spikeforge bench parallel_accuracy --dataset seq-mnist-small --epochs 3 --seeds 3
    spikeforge bench parallel_accuracy --dataset fsdd --epochs 8 --seeds 3

Results go to ``runs/bench/parallel_accuracy`` unless ``--out`` says otherwise (see
:mod:`.results`).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Sequence

from ..engine.config import Config, find_config, load_structured, read_yaml
from ..engine.run import train
from .results import command, make_parser, out_dir

NAME = "parallel_accuracy"
CONFIGS = {"seq-mnist-small": ("seq_mnist_small_mlp.yaml", 28), "fsdd": ("fsdd_mlp.yaml", 100)}


def neurons(steps: int) -> dict[str, tuple[str, dict]]:
    """Label -> (registered neuron, options); fixed-T neurons get the data's T. Masked
    PSN runs twice: causal from the start (λ = 1 fixed) and with progressive masking."""
    return {
        "LIF": ("lif", {}),
        "PSN": ("psn", {"T": steps}),
        "masked PSN k=4": ("masked_psn", {"T": steps, "k": 4, "mask_progress": 1.0}),
        # the paper's progressive masking: λ 0 -> 1 over the first 1/8 of training, then 1
        "masked PSN k=4 progressive": (
            "masked_psn",
            {"T": steps, "k": 4, "mask_schedule": [0.0, 0.125]},
        ),
        "sliding PSN k=4": ("sliding_psn", {"k": 4}),
        "PSU": ("psu", {"T": steps}),
        "IPSU": ("ipsu", {"T": steps}),
        "RPSU": ("rpsu", {"T": steps}),
        "ParaLIF-SB": ("paralif", {"spike_fn": "SB"}),
        "ParaLIF-T": ("paralif", {"spike_fn": "T"}),
        "ParaLIF-D": ("paralif", {"spike_fn": "D"}),
    }


def row_config(config_file: str, name: str, options: dict, overrides: Sequence[str]) -> Config:
    """The dataset's config with neuron ``name`` and exactly ``options`` as its
    ``neuron_kwargs``: they replace the file's (``fsdd_mlp.yaml`` sets LIF options such as
    ``decay_input`` that other neurons do not take; an override would merge into them).
    This is how the committed tables were run, before overrides merged dicts."""
    data = read_yaml(find_config(config_file))
    data["model"] = {**data.get("model", {}), "neuron": name, "neuron_kwargs": dict(options)}
    return load_structured(Config, data, overrides=list(overrides))


def main(argv: Sequence[str] | None = None) -> int:
    """``spikeforge bench parallel_accuracy [--dataset D] [--epochs E] [--seeds N]
    [--only LABEL ...] [--out DIR] [--run-dir DIR]``."""
    parser = make_parser(NAME, __doc__)
    parser.add_argument("--dataset", choices=sorted(CONFIGS), default="seq-mnist-small")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="neuron labels to run (default all)")
    parser.add_argument("--run-dir", default="/tmp/spikeforge-parallel-accuracy")
    args = parser.parse_args(argv)
    config_file, steps = CONFIGS[args.dataset]
    rows = []
    for label, (name, options) in neurons(steps).items():
        if args.only and label not in args.only:
            continue
        accs, seconds = [], []
        for seed in range(args.seeds):
            overrides = [
                f"train.epochs={args.epochs}",
                f"train.seed={seed}",
                "train.progress=false",
                f"train.run_dir={args.run_dir}",
                f"train.run_name={args.dataset}-{name}-{len(rows)}-{seed}-{time.time_ns()}",
            ]
            start = time.perf_counter()
            _, final = train(row_config(config_file, name, options, overrides))
            seconds.append(time.perf_counter() - start)
            accs.append(final["test_acc"])
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        rows.append({"neuron": label, "accs": accs, "mean": statistics.mean(accs), "std": std,
                     "seconds_per_run": statistics.mean(seconds)})  # fmt: skip
        print(f"{label:18s} {rows[-1]['mean']:.4f} ± {std:.4f}", flush=True)
    out = out_dir(args.out)
    stem = f"parallel_accuracy_{args.dataset}"
    cmd = command(NAME, ["--dataset", args.dataset, "--epochs", str(args.epochs),
                         "--seeds", str(args.seeds)])  # fmt: skip
    meta = {"command": cmd, "config": f"configs/{config_file}", "epochs": args.epochs,
            "seeds": args.seeds, "load_average_at_end": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}  # fmt: skip
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [f"# {args.dataset}: LIF vs parallel neurons (same spiking_mlp, same budget)", "",
             f"Command: `{cmd}` ({args.epochs} epochs, seeds 0..{args.seeds - 1}, "
             f"config `configs/{config_file}`); {meta['date']}.", "",
             "| neuron | test accuracy (mean ± std) | per seed | s / run |",
             "|---|---|---|---|"]  # fmt: skip
    for r in rows:
        per_seed = ", ".join(f"{a:.4f}" for a in r["accs"])
        lines.append(f"| {r['neuron']} | {r['mean']:.4f} ± {r['std']:.4f} | {per_seed} | "
                     f"{r['seconds_per_run']:.0f} |")  # fmt: skip
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
