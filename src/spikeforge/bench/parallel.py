"""Speed of the parallel neuron family (PSN, PSU, ParaLIF) relative to a sequential LIF.

For each T, one layer of B × N neurons is driven by the same random input ``[T, B, N]``
and timed in two modes:

- **inference**: forward under ``torch.no_grad()``;
- **training**: forward with an input that requires grad + ``backward`` of
  ``(spikes · g).sum()`` for a fixed upstream gradient ``g`` (so the surrogate runs).

The reference is our LIF (τ = 2, V_th = 1, hard reset, atan) with ``backend="torch"``
(the plain-torch time loop); ``backend="auto"`` (a fused kernel where one is
registered) is listed too. Ratios are ``time(LIF reference) / time(neuron)`` — above
1 means faster than the reference. SpikingJelly's PSN / MaskedPSN / SlidingPSN are
timed side by side when ``spikingjelly`` is importable (run the script with the
interpreter of ``.venv-bench``); otherwise their rows say "not installed". Times are
the best of several repeats after a warm-up (medians in the JSON); the load average is
recorded because other processes on a small shared machine distort the numbers.
"""

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

from ..neurons import IPSU, LIF, PSN, PSU, RPSU, MaskedPSN, ParaLIF, SlidingPSN
from .device import machine_info

FULL = {"B": 32, "N": 4096, "T": [4, 8, 16, 32, 64], "repeats": 5}
QUICK = {"B": 16, "N": 1024, "T": [4, 16, 64], "repeats": 3}
SLIDING_K = 4
MASKED_K = 4
REFERENCE = "LIF (torch, reference)"

Factory = Callable[[int], nn.Module]


def _ours() -> list[tuple[str, Factory]]:
    return [
        (REFERENCE, lambda T: LIF(backend="torch")),
        ("LIF (auto)", lambda T: LIF(backend="auto")),
        ("PSN", lambda T: PSN(T)),
        (f"MaskedPSN k={MASKED_K} (λ=1)", lambda T: MaskedPSN(T, k=MASKED_K, mask_progress=1.0)),
        (f"SlidingPSN k={SLIDING_K}", lambda T: SlidingPSN(k=SLIDING_K)),
        ("PSU", lambda T: PSU(T)),
        ("IPSU", lambda T: IPSU(T)),
        ("RPSU", lambda T: RPSU(T)),
        ("ParaLIF-SB", lambda T: ParaLIF("SB")),
        ("ParaLIF-T", lambda T: ParaLIF("T")),
        ("ParaLIF-D", lambda T: ParaLIF("D")),
    ]


def _spikingjelly() -> list[tuple[str, Factory | str]]:
    names = ["SpikingJelly PSN", f"SpikingJelly MaskedPSN k={MASKED_K}", "SpikingJelly SlidingPSN"]
    try:
        from spikingjelly.activation_based import neuron
    except ImportError:
        return [(name, "not installed") for name in names]

    def masked(T: int) -> nn.Module:
        layer = neuron.MaskedPSN(k=MASKED_K, T=T, step_mode="m")
        layer.lambda_ = 1.0
        return layer

    return [
        (names[0], lambda T: neuron.PSN(T=T)),
        (names[1], masked),
        (names[2], lambda T: neuron.SlidingPSN(k=SLIDING_K, step_mode="m")),
    ]


def _times_ms(fn: Callable[[], Any], repeats: int) -> list[float]:
    fn()  # warm-up (allocations, kernel selection)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def _measure(layer: nn.Module, x: torch.Tensor, g: torch.Tensor, repeats: int) -> dict[str, float]:
    def infer() -> None:
        with torch.no_grad():
            layer(x)

    xg = x.clone().requires_grad_(True)

    def train() -> None:
        xg.grad = None
        layer.zero_grad(set_to_none=True)
        (layer(xg) * g).sum().backward()

    # Best of n is the primary number (least disturbed by other processes on a shared
    # machine); the median is kept in the JSON.
    out: dict[str, float] = {}
    for key, fn in (("infer", infer), ("train", train)):
        times = _times_ms(fn, repeats)
        out[f"{key}_ms"] = min(times)
        out[f"{key}_median_ms"] = statistics.median(times)
    return out


def _table(rows: list[dict[str, Any]], Ts: list[int], key: str) -> list[str]:
    lines = ["| neuron | " + " | ".join(f"T={T}" for T in Ts) + " |"]
    lines.append("|---" * (len(Ts) + 1) + "|")
    names = list(dict.fromkeys(r["neuron"] for r in rows))
    for name in names:
        cells = []
        for T in Ts:
            row = next((r for r in rows if r["neuron"] == name and r["T"] == T), None)
            if row is None or row["status"] != "ok":
                cells.append(row["status"] if row else "-")
            else:
                cells.append(f"{row[key]:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def run(quick: bool = False, json_path: str | None = None) -> str:
    """Run the benchmark; return a Markdown report (and write JSON to ``json_path``)."""
    cfg = QUICK if quick else FULL
    info = machine_info()
    torch.manual_seed(0)
    candidates: list[tuple[str, Factory | str]] = [*_ours(), *_spikingjelly()]
    rows: list[dict[str, Any]] = []
    for T in cfg["T"]:
        x = torch.rand(T, cfg["B"], cfg["N"]) * 1.5
        g = torch.randn_like(x)
        ref: dict[str, float] = {}
        for name, factory in candidates:
            row: dict[str, Any] = {"neuron": name, "T": T, "status": "ok"}
            if isinstance(factory, str):
                row["status"] = factory
            else:
                try:
                    row.update(_measure(factory(T), x, g, cfg["repeats"]))
                except Exception as err:  # a peer failing must not abort the run
                    row["status"] = f"error: {type(err).__name__}"
            if name == REFERENCE:
                ref = {"infer_ms": row["infer_ms"], "train_ms": row["train_ms"]}
            if row["status"] == "ok":
                row["train_speedup"] = ref["train_ms"] / row["train_ms"]
                row["infer_speedup"] = ref["infer_ms"] / row["infer_ms"]
            rows.append(row)
    info["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else []
    command = " ".join([Path(sys.executable).name, *sys.argv])
    report = _report(rows, cfg, info, command)
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        payload = {"config": cfg, "machine": info, "command": command, "rows": rows}
        Path(json_path).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return report


def _report(rows: list[dict[str, Any]], cfg: dict[str, Any], info: dict[str, Any], cmd: str) -> str:
    Ts = cfg["T"]
    lines = [
        "# Parallel neurons vs sequential LIF (CPU)",
        "",
        f"Command: `{cmd}`  ",
        f"Machine: {info['cpu_model']}, {info['cores']} cores, torch {info['torch']} "
        f"({info['torch_threads']} threads), Python {info['python']}, {info['date']}  ",
        f"Load average start/end: {info['loadavg_start']} / {info['loadavg_end']}  ",
        f"Layer: B = {cfg['B']}, N = {cfg['N']}, float32; best of {cfg['repeats']} "
        "repeats after one warm-up (medians in the JSON).",
        "",
        f"## Training (forward + backward): speed-up over `{REFERENCE}` (higher = faster)",
        "",
        *_table(rows, Ts, "train_speedup"),
        "",
        f"## Inference (forward, no grad): speed-up over `{REFERENCE}`",
        "",
        *_table(rows, Ts, "infer_speedup"),
        "",
        "## Absolute times, training (ms)",
        "",
        *_table(rows, Ts, "train_ms"),
        "",
        "## Absolute times, inference (ms)",
        "",
        *_table(rows, Ts, "infer_ms"),
        "",
    ]
    T_max = max(Ts)
    family = [
        r
        for r in rows
        if r["T"] == T_max
        and r["status"] == "ok"
        and "PSN" in r["neuron"]
        and not r["neuron"].startswith("SpikingJelly")
    ]
    if family:
        worst = min(r["train_speedup"] for r in family)
        verdict = "met" if worst >= 5.0 else "NOT met"
        lines += [
            f"Target (PSN family ≥ 5× faster than the LIF reference when training at "
            f"T = {T_max}): **{verdict}** — slowest PSN variant {worst:.1f}×.",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (< 60 s)")
    parser.add_argument("--json", default=None, help="write the raw results here")
    parser.add_argument("--out", default=None, help="write the Markdown report here")
    args = parser.parse_args(argv)
    report = run(quick=args.quick, json_path=args.json)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
