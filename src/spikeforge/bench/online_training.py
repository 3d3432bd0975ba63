"""BPTT vs the online methods (SLTT, SLTT-K, OTTT, DECOLLE): accuracy, time and memory.

Each method trains the same config (same model, optimiser, epochs and seeds) through the
one trainer; only ``train.method`` differs (and, in one BPTT row, the objective: the
online methods' mean of per-step cross-entropies, so that the loss and the dropped
temporal gradient can be told apart). Reported per method: final test accuracy
(mean ± std over seeds), wall seconds per run, and the peak extra resident memory of one
training step (forward + backward of one batch, gradients included) measured by
:func:`spikeforge.bench.rss.resident_peak_extra_bytes` in this process, after one
warm-up step, with glibc's default allocator.

Usage::

    spikeforge bench online_training --task digits-T16 --seeds 3
    spikeforge bench online_training --task fsdd --epochs 10 --seeds 3

Results go to ``runs/bench/online_training`` unless ``--out`` says otherwise (see
:mod:`.results`).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from ..data.loader import time_major_collate
from ..engine.build import build_datasets, build_encoder, build_model
from ..engine.config import Config, load_config
from ..engine.method import build_method
from ..engine.run import train
from .results import command, make_parser, out_dir
from .rss import resident_peak_extra_bytes

NAME = "online_training"
# task -> (shipped config, overrides)
TASKS = {
    "digits-T4": ("digits_csnn.yaml", ["data.timesteps=4"]),
    "digits-T16": ("digits_csnn.yaml", ["data.timesteps=16"]),
    "fsdd": ("fsdd_mlp.yaml", []),
}
# label -> overrides
METHODS = {
    "BPTT": ["train.method=bptt"],
    # the online methods' loss (mean of per-step CE) with BPTT's gradients: separates the
    # loss from the dropped temporal gradient
    "BPTT, per-step CE": ["train.method=bptt", "train.objective=ce_per_step"],
    "SLTT": ["train.method=sltt"],
    "SLTT-2 (k=2)": ["train.method=sltt", "train.method_options={k: 2}"],
    "OTTT": ["train.method=ottt"],
    "DECOLLE (local losses)": ["train.method=decolle"],
}


def batch(config: Config, train_set: Dataset, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs [T, B, ...], targets [B])``: train samples ``start … start + B - 1``, encoded."""
    samples = [train_set[i] for i in range(start, start + config.data.batch_size)]
    x, y = time_major_collate(samples, temporal=bool(getattr(train_set, "temporal", False)))
    encoder = build_encoder(config)
    inputs = x if encoder is None else encoder(x, generator=torch.Generator().manual_seed(0))
    return inputs, y


def step_peak_mib(config: Config) -> float:
    """Peak extra resident MiB of one training step on the first batch of the train set."""
    torch.manual_seed(config.train.seed)
    train_set, _ = build_datasets(config)
    model = build_model(config, train_set)
    method = build_method(config, False, model, train_set)
    inputs, y = batch(config, train_set)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        terms = method(model, inputs, y)
        if not getattr(method, "backpropagates", False):
            terms["loss"].backward()

    step()  # warm-up: kernels loaded, lazily built state allocated
    peak = resident_peak_extra_bytes(step)
    return float("nan") if peak is None else peak / 2**20


def main(argv: Sequence[str] | None = None) -> int:
    """``spikeforge bench online_training [--task T] [--epochs E] [--seeds N] [--out DIR]
    [--run-dir DIR]``."""
    parser = make_parser(NAME, __doc__)
    parser.add_argument("--task", choices=sorted(TASKS), default="digits-T16")
    parser.add_argument("--epochs", type=int, default=None, help="default: the config's")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--run-dir", default="/tmp/spikeforge-online-training")
    args = parser.parse_args(argv)
    config_file, task_overrides = TASKS[args.task]
    common = [*task_overrides, "train.progress=false", "train.tensorboard=false"]
    if args.epochs is not None:
        common.append(f"train.epochs={args.epochs}")
    rows = []
    for label, method_overrides in METHODS.items():
        base = load_config(config_file, [*common, *method_overrides])
        peak = step_peak_mib(base)
        accs, seconds = [], []
        for seed in range(args.seeds):
            name = f"{args.task}-{label.split()[0]}-{seed}-{time.time_ns()}"
            overrides = [f"train.seed={seed}", f"train.run_dir={args.run_dir}",
                         f"train.run_name={name}"]  # fmt: skip
            config = load_config(config_file, [*common, *method_overrides, *overrides])
            start = time.perf_counter()
            _, final = train(config)
            seconds.append(time.perf_counter() - start)
            accs.append(final["test_acc"])
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        rows.append({"method": label, "overrides": method_overrides, "accs": accs,
                     "mean": statistics.mean(accs), "std": std,
                     "seconds_per_run": statistics.mean(seconds),
                     "step_peak_MiB": peak})  # fmt: skip
        print(f"{label:18s} {rows[-1]['mean']:.4f} ± {std:.4f}  {peak:.1f} MiB", flush=True)
    epochs = base.train.epochs
    out = out_dir(args.out)
    stem = f"online_training_{args.task}"
    options = ["--task", args.task, "--seeds", str(args.seeds)]
    if args.epochs is not None:
        options += ["--epochs", str(args.epochs)]
    cmd = command(NAME, options)
    meta = {"command": cmd, "config": f"configs/{config_file}", "overrides": task_overrides,
            "epochs": epochs, "timesteps_or_data": base.data.timesteps, "seeds": args.seeds,
            "threads": torch.get_num_threads(), "load_average_at_end": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}  # fmt: skip
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [f"# {args.task}: BPTT vs online training (same model, same budget)", "",
             f"Command: `{cmd}` (config `configs/{config_file}` with "
             f"{task_overrides or 'no overrides'}, {epochs} epochs, seeds 0..{args.seeds - 1},"
             f" {torch.get_num_threads()} threads); {meta['date']}.",
             "Peak: extra resident memory of one training step (one batch, forward + backward,"
             " gradients included) after a warm-up step, glibc's default allocator.", "",
             "| method | test accuracy (mean ± std) | per seed | s / run | step peak MiB |",
             "|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        per_seed = ", ".join(f"{a:.4f}" for a in r["accs"])
        lines.append(f"| {r['method']} | {r['mean']:.4f} ± {r['std']:.4f} | {per_seed} | "
                     f"{r['seconds_per_run']:.0f} | {r['step_peak_MiB']:.1f} |")  # fmt: skip
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
