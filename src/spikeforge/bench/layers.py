"""Timing one neuron layer, training and inference, and tabulating ratios (shared by the
``parallel`` and ``leaky`` benchmarks)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn


def times_ms(
    fn: Callable[[], Any], repeats: int, synchronize: Callable[[], None] = lambda: None
) -> list[float]:
    """Wall times (ms) of ``repeats`` calls of ``fn`` after one warm-up call, each call
    bracketed by ``synchronize`` (``torch.cuda.synchronize`` on a GPU)."""
    fn()  # warm-up (allocations, kernel selection, JIT compiles)
    times = []
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        fn()
        synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def _synchronizer(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def measure_layer(
    layer: nn.Module, x: torch.Tensor, g: torch.Tensor, repeats: int, layer_only: bool = False
) -> dict[str, float]:
    """``infer_ms`` (forward under ``no_grad``) and ``train_ms``: best of ``repeats``, the
    primary number (least disturbed by other processes); medians as ``*_median_ms``.

    Training is the forward of an input that requires grad and ``backward`` of
    ``(layer(x) · g).sum()`` (as in a training step: the product, its backward and the
    gradient accumulation into ``x.grad`` are timed too), or with ``layer_only``
    ``torch.autograd.grad(layer(x), x, g)``: the layer's own forward and backward only.
    """

    def infer() -> None:
        with torch.no_grad():
            layer(x)

    xg = x.clone().requires_grad_(True)

    def train() -> None:
        xg.grad = None
        layer.zero_grad(set_to_none=True)
        if layer_only:
            torch.autograd.grad(layer(xg), xg, g)
        else:
            (layer(xg) * g).sum().backward()

    out: dict[str, float] = {}
    for key, fn in (("infer", infer), ("train", train)):
        times = times_ms(fn, repeats, _synchronizer(x.device))
        out[f"{key}_ms"] = min(times)
        out[f"{key}_median_ms"] = statistics.median(times)
    return out


def ratio_table(rows: list[dict[str, Any]], Ts: list[int], key: str) -> list[str]:
    """Markdown rows: one line per ``row["neuron"]``, one column per T, ``row[key]``
    (or the row's status when it did not run)."""
    lines = ["| neuron | " + " | ".join(f"T={T}" for T in Ts) + " |"]
    lines.append("|---" * (len(Ts) + 1) + "|")
    names = list(dict.fromkeys(r["neuron"] for r in rows))
    for name in names:
        cells = []
        for T in Ts:
            row = next((r for r in rows if r["neuron"] == name and r["T"] == T), None)
            if row is None or row["status"] != "ok":
                cells.append(row["status"] if row else "-")
            elif key not in row:  # it ran, but its group's reference did not
                cells.append("no reference")
            else:
                cells.append(f"{row[key]:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def report_header(title: str, cfg: dict[str, Any], info: dict[str, Any], cmd: str) -> list[str]:
    """Title, command, machine, load and layer lines of a layer benchmark's report."""
    return [
        f"# {title}",
        "",
        f"Command: `{cmd}`  ",
        f"Machine: {info['cpu_model']}, {info['cores']} cores, torch {info['torch']} "
        f"({info['torch_threads']} threads), Python {info['python']}, {info['date']}  ",
        *(
            [
                f"GPU: {info['gpu']} (capability {info.get('gpu_capability')}, "
                f"{info.get('gpu_multiprocessors')} SMs), CUDA {info.get('cuda_runtime')}, "
                f"triton {info.get('triton')}  "
            ]
            if info.get("gpu")
            else []
        ),
        f"Load average start/end: {info['loadavg_start']} / {info['loadavg_end']}  ",
        f"Layer: B = {cfg['B']}, N = {cfg['N']}, float32; best of {cfg['repeats']} "
        "repeats after one warm-up (medians in the JSON).",
        "",
    ]


def layer_bench_main(
    description: str,
    run: Callable[..., str],
    argv: list[str] | None,
    quick_help: str,
    with_device: bool = False,
) -> int:
    """``[--quick] [--json PATH] [--out PATH]`` (and ``--device cpu|cuda`` when
    ``with_device``): run, print the report, write it. ``--device cuda`` without a GPU
    exits with status 2 and one line."""
    from .device import DEVICES, DeviceUnavailableError, bench_device

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--json", default=None, help="write the raw results here")
    parser.add_argument("--out", default=None, help="write the Markdown report here")
    if with_device:
        parser.add_argument("--device", choices=DEVICES, default="cpu")
    args = parser.parse_args(argv)
    options: dict[str, Any] = {}
    if with_device:
        try:
            options["device"] = bench_device(args.device)
        except DeviceUnavailableError as error:
            print(f"{parser.prog}: error: {error}", file=sys.stderr)
            return 2
    report = run(quick=args.quick, json_path=args.json, **options)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report, encoding="utf-8")
    print(report)
    return 0


# (group, row name, layer factory taking T | a status string such as "not installed")
Candidate = tuple[str, str, "Callable[[int], nn.Module] | str"]


def measure_candidates(
    cfg: dict[str, Any],
    candidates: list[Candidate],
    references: dict[str, str],
    layer_only: bool = False,
    device: torch.device | str = "cpu",
) -> list[dict[str, Any]]:
    """Time every candidate at every ``cfg["T"]`` on one random input ``[T, B, N]`` on
    ``device`` (layers moved there; see :func:`measure_layer` for ``layer_only``);
    ``*_speedup`` is the time of the group's reference row (``references[group]``, listed
    before the group's other rows) over the row's own."""
    rows: list[dict[str, Any]] = []
    for T in cfg["T"]:
        # drawn on the CPU, then moved: every device sees the same values
        x = (torch.rand(T, cfg["B"], cfg["N"]) * 1.5).to(device)
        g = torch.randn(x.shape).to(device)
        refs: dict[str, dict[str, Any]] = {}
        for group, name, factory in candidates:
            row: dict[str, Any] = {"neuron": name, "group": group, "T": T, "status": "ok"}
            if isinstance(factory, str):
                row["status"] = factory
            else:
                try:
                    layer = factory(T).to(device)
                    row.update(measure_layer(layer, x, g, cfg["repeats"], layer_only))
                except Exception as err:  # a peer failing must not abort the run
                    row["status"] = f"error: {type(err).__name__}"
            if name == references[group]:
                refs[group] = row
            ref = refs.get(group)
            if row["status"] == "ok" and ref is not None and ref["status"] == "ok":
                row["train_speedup"] = ref["train_ms"] / row["train_ms"]
                row["infer_speedup"] = ref["infer_ms"] / row["infer_ms"]
            rows.append(row)
    return rows


def finish_run(
    rows: list[dict[str, Any]],
    cfg: dict[str, Any],
    info: dict[str, Any],
    report: Callable[[list[dict[str, Any]], dict[str, Any], dict[str, Any], str], str],
    json_path: str | None,
) -> str:
    """Record the end load and the command, write the JSON, return the report."""
    info["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else []
    command = " ".join([Path(sys.executable).name, *sys.argv])
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        payload = {"config": cfg, "machine": info, "command": command, "rows": rows}
        Path(json_path).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return report(rows, cfg, info, command)


def ratio_sections(rows: list[dict[str, Any]], Ts: list[int], reference: str) -> list[str]:
    """The four tables of a layer benchmark: training and inference speed-ups over
    ``reference`` (a description), then absolute times."""
    sections = [
        (f"Training (forward + backward): speed-up over {reference}", "train_speedup"),
        (f"Inference (forward, no grad): speed-up over {reference}", "infer_speedup"),
        ("Absolute times, training (ms)", "train_ms"),
        ("Absolute times, inference (ms)", "infer_ms"),
    ]
    lines: list[str] = []
    for title, key in sections:
        lines += [f"## {title}", "", *ratio_table(rows, Ts, key), ""]
    return lines
