"""Reference accuracies of the shipped configs, with wall time on this machine.

Usage: ``spikeforge bench reference_results [NAME ...] [--out DIR] [--run-dir DIR]``.
Trains each config named below from scratch (seeded) and writes
``reference_<name>.json`` plus a combined ``reference_results.md`` (of every
``reference_*.json`` in the folder) to ``runs/bench/reference_results`` unless ``--out``
says otherwise (see :mod:`.results`).
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from ..engine.config import load_config
from ..engine.run import train
from .results import command, make_parser, out_dir

NAME = "reference_results"
CONFIGS = {
    "digits": "digits_csnn.yaml",
    "mnist-small": "mnist_small_csnn.yaml",
    "cifar10-small": "cifar10_small_vgg.yaml",
    "nmnist-small": "nmnist_small_csnn.yaml",
    "fsdd": "fsdd_mlp.yaml",
}


def machine() -> dict[str, object]:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    cpu = names[0] if names else platform.processor()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "load_average_at_start": os.getloadavg(),
    }


def run_one(name: str, out: Path, run_dir: Path) -> dict[str, object]:
    overrides = [f"train.run_dir={run_dir}", f"train.run_name=reference-{name}"]
    config = load_config(CONFIGS[name], overrides)
    start = time.perf_counter()
    trainer, final = train(config)
    result = {
        "dataset": name,
        "config": f"configs/{CONFIGS[name]}",
        "command": f"spikeforge train --config configs/{CONFIGS[name]}",
        "final_test_acc": final["test_acc"],
        "best_test_acc": max(r["test_acc"] for r in trainer.history),
        "epochs": final["epoch"],
        "timesteps": config.data.timesteps if config.data.encoder != "none" else "from data",
        "firing_rates": final["firing_rates"],
        "wall_seconds": round(time.perf_counter() - start, 1),
        "machine": machine(),
    }
    (out / f"reference_{name}.json").write_text(json.dumps(result, indent=2))
    return result


def write_table(out: Path) -> None:
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("reference_*.json"))]
    lines = [
        "# Reference results (2-core CPU)",
        "",
        f"Reproduce a row with its command; all rows: `{command(NAME, [])}`.",
        "Wall time includes data decoding and per-epoch evaluation; the machine was shared with",
        "other jobs when the load average at start is above ~1.",
        "",
        "| dataset | final test acc | best test acc | epochs | T | wall time | load avg "
        "| command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        load = r["machine"]["load_average_at_start"][0]
        lines.append(
            f"| {r['dataset']} | {r['final_test_acc']:.4f} | {r['best_test_acc']:.4f} | "
            f"{r['epochs']} | {r['timesteps']} | {r['wall_seconds']:.0f} s | {load:.1f} | "
            f"`{r['command']}` |"
        )
    if rows:
        m = rows[0]["machine"]
        lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}."]
    (out / "reference_results.md").write_text("\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``spikeforge bench reference_results [NAME ...] [--out DIR] [--run-dir DIR]``."""
    parser = make_parser(NAME, __doc__)
    parser.add_argument("names", nargs="*", help=f"datasets among {list(CONFIGS)} (default all)")
    parser.add_argument("--run-dir", default="runs")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; expected names among {list(CONFIGS)}")
    out = out_dir(args.out)
    for name in args.names or list(CONFIGS):
        result = run_one(name, out, Path(args.run_dir))
        print(f"{name}: {result['final_test_acc']:.4f} in {result['wall_seconds']} s", flush=True)
        write_table(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
