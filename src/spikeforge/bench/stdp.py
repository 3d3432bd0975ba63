"""STDP-learned features vs random ones: the same network and readout, with and without STDP.

Each dataset's shipped config (``configs/digits_stdp.yaml``, ``configs/mnist_small_stdp.yaml``:
model ``stdp_wta``, ``train.method=stdp``) is trained through the engine for every seed,
and so are two baselines with the same architecture, weight normalisation and readout
(ridge regression on spike counts, fitted in one pass over the training set):

- ``random``: the untrained network — the seed's random initial weights, normalised,
  thresholds at their initial value (``train.method_options.learn=false``, one readout
  epoch);
- ``homeostasis only``: the random weights with the adaptive thresholds trained as in the
  STDP run (``a_plus = a_minus = 0``, the same epochs), which separates what STDP learns
  from what the threshold homeostasis alone does.

A seed gives the same initial weights to all three (the model is built right after
``torch.manual_seed(seed)``), so the per-seed differences are paired. STDP "beats random
by more than the seeds' spread" when the mean difference exceeds the sum of the two
standard deviations and the worst STDP seed beats the best random one.

Usage::

    spikeforge bench stdp --dataset digits --seeds 3
    spikeforge bench stdp --dataset digits mnist-small --seeds 3 --out benchmarks/results

Results (``stdp_<dataset>.json`` / ``.md``) go to ``runs/bench/stdp`` unless ``--out``
says otherwise (see :mod:`.results`).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch

from ..engine.config import load_config
from ..engine.run import train
from .results import command, make_parser, out_dir

NAME = "stdp"
CONFIGS = {"digits": "digits_stdp.yaml", "mnist-small": "mnist_small_stdp.yaml"}
MACHINE = "shared 2-core CPU machine (other jobs running at the same time)"


def variants(epochs: int) -> dict[str, list[str]]:
    """Label -> overrides of the dataset's config (``epochs``: the STDP run's)."""
    return {
        "STDP": [],
        "random (untrained)": ["train.method_options.learn=false", "train.epochs=1"],
        "homeostasis only": [
            "train.method_options.a_plus=0.0",
            "train.method_options.a_minus=0.0",
            f"train.epochs={epochs}",
        ],
    }


def summary(accs: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.mean(accs),
        "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
        "min": min(accs),
        "max": max(accs),
    }


def comparison(stdp: list[float], random: list[float]) -> dict[str, Any]:
    """STDP vs random: mean and per-seed differences, and whether the gap exceeds the
    spread (mean difference > std_stdp + std_random and min STDP > max random)."""
    a, b = summary(stdp), summary(random)
    gap = a["mean"] - b["mean"]
    return {
        "mean_difference": gap,
        "per_seed_difference": [x - y for x, y in zip(stdp, random, strict=True)],
        "spread": a["std"] + b["std"],
        "beats_by_more_than_spread": bool(gap > a["std"] + b["std"] and a["min"] > b["max"]),
    }


def _run(config_file: str, overrides: list[str]) -> tuple[dict[str, Any], float, list[float]]:
    start = time.perf_counter()
    trainer, final = train(load_config(config_file, overrides))
    seconds = time.perf_counter() - start
    return final, seconds, [r["test_acc"] for r in trainer.history]


def bench_dataset(dataset: str, seeds: int, run_dir: str, extra: list[str]) -> dict[str, Any]:
    """Every variant over ``seeds`` seeds on ``dataset``; ``extra``: overrides for all."""
    config_file = CONFIGS[dataset]
    config = load_config(config_file, extra)
    rows = []
    for label, overrides in variants(config.train.epochs).items():
        accs, seconds, histories = [], [], []
        for seed in range(seeds):
            tag = f"{dataset}-{label.split()[0].lower()}-{seed}-{time.time_ns()}"
            final, secs, history = _run(
                config_file,
                [
                    *extra,
                    *overrides,
                    f"train.seed={seed}",
                    "train.progress=false",
                    "train.tensorboard=false",
                    f"train.run_dir={run_dir}",
                    f"train.run_name={tag}",
                ],
            )
            accs.append(final["test_acc"])
            seconds.append(secs)
            histories.append(history)
        rows.append({"variant": label, "overrides": overrides, "accs": accs, **summary(accs),
                     "test_acc_per_epoch": histories,
                     "seconds_per_run": statistics.mean(seconds)})  # fmt: skip
        print(
            f"{dataset:12s} {label:20s} {rows[-1]['mean']:.4f} ± {rows[-1]['std']:.4f}", flush=True
        )
    by = {r["variant"]: r["accs"] for r in rows}
    return {
        "dataset": dataset,
        "config": f"configs/{config_file}",
        "overrides": extra,
        "settings": {
            "neurons": config.model.kwargs.get("neurons"),
            "timesteps": config.data.timesteps,
            "encoder": config.data.encoder,
            "batch_size": config.data.batch_size,
            "epochs": config.train.epochs,
            "neuron_kwargs": dict(config.model.neuron_kwargs),
            "method_options": dict(config.train.method_options),
        },
        "rows": rows,
        "stdp_vs_random": comparison(by["STDP"], by["random (untrained)"]),
        "stdp_vs_homeostasis_only": comparison(by["STDP"], by["homeostasis only"]),
    }


def markdown(result: dict[str, Any], meta: dict[str, Any]) -> str:
    s = result["settings"]
    lines = [
        f"# {result['dataset']}: STDP features vs random features (same network, same readout)",
        "",
        f"Command: `{meta['command']}`; {meta['date']}; {meta['machine']} "
        f"({meta['cpu_count']} CPUs, torch {meta['torch']}, {meta['threads']} torch thread(s), "
        f"load average {meta['load_average_start'][0]:.1f} at the start, "
        f"{meta['load_average_end'][0]:.1f} at the end).",
        "",
        f"Config `{result['config']}`"
        + (f" with `{' '.join(result['overrides'])}`" if result["overrides"] else "")
        + f": `stdp_wta`, {s['neurons']} winner-take-all LIF neurons with adaptive "
        f"thresholds, {s['encoder']} input, T={s['timesteps']}, batch {s['batch_size']}, "
        f"{s['epochs']} epochs (the last only fits the readout); STDP options "
        f"{json.dumps(s['method_options'])}; neuron {json.dumps(s['neuron_kwargs'])}. "
        f"Readout: ridge regression of one-hot labels on spike counts, fitted on the "
        f"training set with the final features. Test accuracy on the test split, seeds "
        f"0..{meta['seeds'] - 1} (a seed gives all three variants the same initial weights).",
        "",
        "| features | test accuracy (mean ± std) | per seed | s / run |",
        "|---|---|---|---|",
    ]
    for r in result["rows"]:
        per_seed = ", ".join(f"{a:.4f}" for a in r["accs"])
        lines.append(
            f"| {r['variant']} | {r['mean']:.4f} ± {r['std']:.4f} | {per_seed} | "
            f"{r['seconds_per_run']:.0f} |"
        )
    lines.append("")
    for key, other in (
        ("stdp_vs_random", "random"),
        ("stdp_vs_homeostasis_only", "homeostasis only"),
    ):
        c = result[key]
        diffs = ", ".join(f"{d:+.4f}" for d in c["per_seed_difference"])
        verdict = "yes" if c["beats_by_more_than_spread"] else "**no**"
        lines.append(
            f"- STDP − {other}: {c['mean_difference']:+.4f} (per seed {diffs}); spread "
            f"(sum of the two stds) {c['spread']:.4f}; beats it by more than the spread "
            f"(and worst STDP seed > best {other} seed): {verdict}."
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``spikeforge bench stdp [--dataset D ...] [--seeds N] [--threads K] [--run-dir DIR]
    [--out DIR] [--set key.path=value ...]``."""
    parser = make_parser(NAME, __doc__)
    parser.add_argument("--dataset", nargs="+", choices=sorted(CONFIGS), default=["digits"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--run-dir",
        default="/tmp/spikeforge-bench-stdp",
        help="where the training runs go (default /tmp/spikeforge-bench-stdp)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for every run (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.threads < 1:
        parser.error("--seeds and --threads must be >= 1")
    torch.set_num_threads(args.threads)
    out = out_dir(args.out)
    load_start = os.getloadavg()
    for dataset in args.dataset:
        result = bench_dataset(dataset, args.seeds, args.run_dir, list(args.overrides))
        cmd_args = ["--dataset", dataset, "--seeds", str(args.seeds)]
        if args.threads != 1:
            cmd_args += ["--threads", str(args.threads)]
        meta = {
            "command": command(NAME, [*cmd_args, *(f"--set={o}" for o in args.overrides)]),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": MACHINE,
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "threads": args.threads,
            "seeds": args.seeds,
            "load_average_start": load_start,
            "load_average_end": os.getloadavg(),
        }
        stem = f"stdp_{dataset.replace('-', '_')}"
        (out / f"{stem}.json").write_text(json.dumps({"meta": meta, **result}, indent=2))
        (out / f"{stem}.md").write_text(markdown(result, meta))
        load_start = os.getloadavg()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
