"""ANN -> SNN conversion and hybrid fine-tuning results (METHODS §6), one table per dataset.

For a dataset it runs, on the one Trainer:

1. the ANN twin (``configs/<dataset>_ann.yaml``, ``train.method=ann``);
2. conversion (percentile 99.9 per layer, ``V_th = λ_l``, membranes start at ``V_th/2``)
   and accuracy + firing rate at every T in ``--timesteps`` (one pass of ``max T``);
3. hybrid: the converted SNN fine-tuned by surrogate BPTT at T=4
   (``configs/<dataset>_hybrid.yaml``, learnable thresholds);
4. the same SNN (``csnn_tiny``: conv-BN-IF with soft reset) trained from scratch by BPTT
   at T=4 for as many epochs as the ANN and the hybrid stage together.

It writes ``conversion_<dataset>.md``, ``.json`` and ``.svg`` with the exact commands and
the machine, to ``runs/bench/conversion`` unless ``--out`` says otherwise (see
:mod:`.results`; ``--out benchmarks/results`` updates the committed tables).

Usage::

    spikeforge bench conversion --dataset digits [--test-samples N] [--threads 1]
    spikeforge bench conversion --dataset mnist-small --test-samples 2000
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..engine.config import load_config
from ..engine.convert import format_table, run_conversion, write_plot
from ..engine.run import make_trainer, train
from .results import arguments, command, make_parser, out_dir

NAME = "conversion"
SPIKING_TWIN = {"ann_csnn_tiny": "csnn_tiny", "ann_vgg_small": "spiking_vgg_small"}
CONFIG_STEM = {"digits": "digits", "mnist-small": "mnist_small", "cifar10-small": "cifar10_small"}


def _train(config_path: str, overrides: list[str]) -> tuple[dict[str, Any], float, Any]:
    start = time.perf_counter()
    trainer, final = train(load_config(config_path, overrides))
    return final, time.perf_counter() - start, trainer


def run(args: argparse.Namespace) -> dict[str, Any]:
    stem = CONFIG_STEM[args.dataset]
    run_dir = Path(args.run_dir) / stem
    if run_dir.exists():
        shutil.rmtree(run_dir)  # this script's own scratch folder
    common = ["train.progress=false", f"train.run_dir={run_dir}"]
    ann_config = f"{stem}_ann"  # shipped configs
    hybrid_config = f"{stem}_hybrid"
    ann_cfg = load_config(ann_config)
    hybrid_cfg = load_config(hybrid_config)
    commands: list[str] = []

    # 1. ANN
    ann_final, ann_seconds, _ = _train(ann_config, [*common, "train.run_name=ann"])
    checkpoint = run_dir / "ann" / "best.pt"
    commands.append(f"spikeforge train --config configs/{stem}_ann.yaml")

    # 2. conversion vs T
    conversion = run_conversion(checkpoint, args.timesteps, test_samples=args.test_samples)
    plot = write_plot(conversion, out_dir(args.out) / f"conversion_{stem}.svg")
    limit = f" --test-samples {args.test_samples}" if args.test_samples else ""
    commands.append(
        f"spikeforge convert --checkpoint runs/{ann_cfg.train.run_name}/best.pt --timesteps "
        f"{' '.join(map(str, args.timesteps))}{limit} --plot {plot.as_posix()}"
    )

    # 3. hybrid at T=4 (evaluate the converted SNN at T=4 before fine-tuning, too)
    kwargs = f"model.kwargs={{checkpoint: '{checkpoint}', learn_threshold: true}}"
    hybrid_overrides = [*common, kwargs, "train.run_name=hybrid"]
    probe = make_trainer(load_config(hybrid_config, hybrid_overrides), run_dir / "probe")
    converted_t4 = probe.evaluate(probe.test_set)["accuracy"]
    hybrid_final, hybrid_seconds, _ = _train(hybrid_config, hybrid_overrides)
    commands.append(
        f"spikeforge train --config configs/{stem}_hybrid.yaml "
        f'"model.kwargs={{checkpoint: runs/{ann_cfg.train.run_name}/best.pt, '
        f'learn_threshold: true}}"'
    )

    # 4. the same SNN from scratch at T=4, BPTT, epochs = ANN + hybrid epochs
    scratch_epochs = ann_cfg.train.epochs + hybrid_cfg.train.epochs
    width = ann_cfg.model.kwargs.get("widths")
    # The ANN twin's spiking architecture (ann_csnn_tiny -> csnn_tiny, ann_vgg_small ->
    # spiking_vgg_small), with IF neurons and soft reset like the converted network.
    spiking_twin = SPIKING_TWIN[ann_cfg.model.name]
    scratch_overrides = [
        f"data.name={args.dataset}",
        f"model.name={spiking_twin}",
        "data.timesteps=4",
        "model.neuron=if",
        "'model.neuron_kwargs={reset: subtract}'",
        f"train.epochs={scratch_epochs}",
        f"optim.lr={ann_cfg.optim.lr}",
    ]
    if width:
        scratch_overrides.append(f"'model.kwargs={{widths: {list(width)}}}'")
    unquoted = [o.strip("'") for o in scratch_overrides]
    scratch_final, scratch_seconds, _ = _train(
        "digits_csnn", [*common, *unquoted, "train.run_name=scratch"]
    )
    commands.append(
        "spikeforge train --config configs/digits_csnn.yaml " + " ".join(scratch_overrides)
    )
    return {
        "dataset": args.dataset,
        "machine": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "ann": {"model": ann_cfg.model.name, "epochs": ann_cfg.train.epochs,
                "accuracy": ann_final["test_acc"], "train_seconds": round(ann_seconds, 1)},
        "conversion": conversion,
        "hybrid_t4": {"converted_before_fine_tuning": converted_t4,
                      "accuracy": hybrid_final["test_acc"], "epochs": hybrid_cfg.train.epochs,
                      "train_seconds": round(hybrid_seconds, 1)},
        "scratch_t4": {"model": f"{spiking_twin} (IF, soft reset)", "epochs": scratch_epochs,
                       "accuracy": scratch_final["test_acc"],
                       "train_seconds": round(scratch_seconds, 1)},
        "commands": commands,
        "test_subset": args.test_samples,
        "script": command(NAME, args.argv),
    }  # fmt: skip


def markdown(result: dict[str, Any]) -> str:
    """The results table of one dataset."""
    conv = result["conversion"]
    ann = result["ann"]
    lines = [
        f"# ANN -> SNN conversion on `{result['dataset']}`",
        "",
        f"Machine: {result['machine']['platform']}, Python {result['machine']['python']}, "
        f"torch {result['machine']['torch']}, {result['machine']['threads']} thread(s).",
        f"Reproduce everything: `{result['script']}`.",
        "",
        f"ANN `{ann['model']}` ({ann['epochs']} epochs, {ann['train_seconds']} s): "
        f"**{ann['accuracy']:.4f}** test accuracy"
        + (f" (conversion table on {conv['test_samples']} test samples, a seeded random subset: "
           f"ANN {conv['ann_accuracy']:.4f})" if result["test_subset"] else "")
        + ".",
        f"Conversion: {conv['conversion'].get('calibration')} on "
        f"{conv['conversion'].get('calibration_samples')} training images, V_th = λ_l "
        "(spikes carry λ_l), soft reset, initial membrane V_th/2, output membrane "
        "accumulated; direct encoding.",
        "",
        "| T | converted accuracy | gap to ANN | firing rate | energy / inference (µJ) |",
        "|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for steps, r in conv["timesteps"].items():
        gap = r["accuracy"] - conv["ann_accuracy"]
        energy = f"{r['energy_uj']:.4g}" if "energy_uj" in r else "not measured"
        lines.append(
            f"| {steps} | {r['accuracy']:.4f} | {gap:+.4f} | {r['firing_rate']:.4f} | {energy} |"
        )
    if conv.get("ann_energy_uj"):
        lines += [
            "",
            f"ANN energy / inference: {conv['ann_energy_uj']:.4g} µJ (45 nm, 4.6 pJ per MAC); "
            "SNN: 0.9 pJ per accumulate, first layer MACs (analog input).",
        ]
    smallest = conv["smallest_t_within_1pct"]
    hybrid, scratch = result["hybrid_t4"], result["scratch_t4"]
    lines += [
        "",
        f"Smallest T within 1 % of the ANN: **{smallest if smallest else 'none up to max T'}**.",
        "",
        "| at T = 4 | test accuracy | epochs | train time |",
        "|---|---:|---:|---:|",
        f"| converted, no fine-tuning | {hybrid['converted_before_fine_tuning']:.4f} | – | – |",
        f"| hybrid (converted + BPTT fine-tuning, learnable V_th) | {hybrid['accuracy']:.4f} "
        f"| {hybrid['epochs']} | {hybrid['train_seconds']} s |",
        f"| same SNN from scratch (BPTT) — {scratch['model']} | {scratch['accuracy']:.4f} "
        f"| {scratch['epochs']} | {scratch['train_seconds']} s |",
        "",
        "Commands (run directories as named in the configs):",
        "",
        *[f"    {c}" for c in result["commands"]],
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``spikeforge bench conversion [--dataset D] [--timesteps T ...] [--test-samples N]
    [--threads K] [--run-dir DIR] [--out DIR]``."""
    parser = make_parser(NAME, __doc__)
    parser.add_argument("--dataset", default="digits", choices=sorted(CONFIG_STEM))
    parser.add_argument("--timesteps", type=int, nargs="+", default=[8, 16, 32, 64, 128, 256])
    parser.add_argument("--test-samples", type=int, help="conversion table on N test images")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--run-dir", default="runs/bench-conversion")
    args = parser.parse_args(argv)
    args.argv = arguments(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    result = run(args)
    result["total_seconds"] = round(time.perf_counter() - start, 1)
    out = out_dir(args.out)
    stem = CONFIG_STEM[args.dataset]
    (out / f"conversion_{stem}.json").write_text(json.dumps(result, indent=2))
    (out / f"conversion_{stem}.md").write_text(markdown(result))
    print(format_table(result["conversion"]))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
