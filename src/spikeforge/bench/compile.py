"""Eager vs ``torch.compile``: one training step of ``csnn_tiny`` on the fused CPU path.

The fused CPU kernels are ``torch.library`` custom ops, so ``torch.compile(model,
fullgraph=True)`` traces the whole model into one graph: Inductor compiles the
convolutions, batch norms, pooling and readout around the kernels, and calls the
kernels themselves as opaque nodes (their C code is already one fused loop per layer).
This benchmark measures what that buys per training step, side by side in one process:
for each neuron backend (``auto`` = the fused kernels; ``torch`` = the plain-torch
reference, for comparison) the same model (same initial weights, input ``[T, B, 1, S,
S]``, labels) is trained eagerly and compiled. A step is ``zero_grad``, forward,
cross-entropy of the time-averaged output, backward and an SGD step (the optimiser stays
eager, as ``torch.compile(model)`` leaves it).

Reported per row: the first step (for the compiled model: tracing and compilation
included), the best and median of the timed steps after it, and the kernel calls per
step (so the fused path is seen to run). Per backend: eager / compiled (above 1 means
compiling is faster) and the largest difference of the first step's loss and gradients.

Usage::

    spikeforge bench compile --quick
    spikeforge bench compile --out benchmarks/results

Nothing is written without ``--out DIR`` (then ``compile_cpu.json`` and ``.md`` there).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from ..kernels.cpu import _build
from ..models import create
from .device import machine_info
from .results import arguments, command, out_dir

NAME = "compile"
BACKENDS = ("auto", "torch")
MODES = ("eager", "compiled")


@dataclass(frozen=True)
class Settings:
    """What one run measures: input ``[timesteps, batch, 1, input_size, input_size]``."""

    timesteps: int = 8
    batch: int = 32
    input_size: int = 16
    repeats: int = 20
    threads: int = 1
    backends: tuple[str, ...] = BACKENDS
    compile_backend: str = "inductor"
    seed: int = 0


QUICK = {"timesteps": 4, "batch": 4, "input_size": 8, "repeats": 3, "backends": ("auto",)}


def settings_from(args: argparse.Namespace) -> Settings:
    """The run's settings: an option given wins, else ``--quick``'s smoke-test value
    (:data:`QUICK`), else the :class:`Settings` default. Raises ``ValueError`` naming a
    bad value."""
    chosen: dict[str, Any] = {}
    for f in fields(Settings):
        value = getattr(args, f.name, None)
        if value is None and args.quick and f.name in QUICK:
            value = QUICK[f.name]
        if value is not None:
            chosen[f.name] = tuple(dict.fromkeys(value)) if f.name == "backends" else value
    s = Settings(**chosen)
    for name in ("timesteps", "batch", "repeats", "threads"):
        if getattr(s, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(s, name)}")
    if s.input_size < 2 or s.input_size % 2:
        raise ValueError(f"--input-size must be even and >= 2 (one 2x2 pool), got {s.input_size}")
    return s


def build_model(backend: str, s: Settings) -> nn.Module:
    """``csnn_tiny`` (10 classes) whose neurons run ``backend``; seeded, so every mode of a
    run starts from the same weights."""
    torch.manual_seed(s.seed)
    kwargs = {"backend": backend}
    return create("csnn_tiny", num_classes=10, input_size=s.input_size, neuron_kwargs=kwargs)


def make_batch(s: Settings) -> tuple[torch.Tensor, torch.Tensor]:
    """Input ``[T, B, 1, S, S]`` in [0, 1) and labels ``[B]``, from the run's seed."""
    gen = torch.Generator().manual_seed(s.seed)
    x = torch.rand(s.timesteps, s.batch, 1, s.input_size, s.input_size, generator=gen)
    return x, torch.randint(0, 10, (s.batch,), generator=gen)


def train_step(
    model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """One step; returns the (detached) loss. The output ``[T, B, 10]`` is averaged over
    time before the cross-entropy, as the engine decodes a membrane readout."""
    opt.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x).mean(0), y)
    loss.backward()
    opt.step()
    return loss.detach()


def kernel_calls() -> int:
    """Fused ``"lif"`` CPU kernel calls so far, forward and backward together."""
    return _build.STATE.calls["forward"] + _build.STATE.calls["backward"]


def first_step_difference(
    eager: tuple[torch.Tensor, list[torch.Tensor | None]],
    compiled: tuple[torch.Tensor, list[torch.Tensor | None]],
) -> float:
    """Largest absolute difference of the loss and of every parameter gradient after the
    first step of two models (same weights and batch before it); ``inf`` when one has a
    gradient the other lacks."""
    (l1, g1), (l2, g2) = eager, compiled
    diff = (l1 - l2).abs().item()
    for a, b in zip(g1, g2, strict=True):
        if (a is None) != (b is None):
            return float("inf")
        if a is not None and b is not None:
            diff = max(diff, (a - b).abs().max().item())
    return diff


def measure(
    backend: str, mode: str, s: Settings
) -> tuple[dict[str, Any], tuple[torch.Tensor, list[torch.Tensor | None]]]:
    """Time ``repeats`` training steps after the first; returns the row and the first
    step's ``(loss, parameter gradients)``."""
    model = build_model(backend, s)
    runner: Any = model
    if mode == "compiled":
        runner = torch.compile(model, fullgraph=True, backend=s.compile_backend)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = make_batch(s)
    start = time.perf_counter()
    first_loss = train_step(runner, opt, x, y)
    first_s = time.perf_counter() - start
    # the next step's zero_grad(set_to_none=True) drops these tensors, so no copy is needed
    first_grads = [p.grad for p in model.parameters()]
    times, calls = [], kernel_calls()
    for _ in range(s.repeats):
        start = time.perf_counter()
        train_step(runner, opt, x, y)
        times.append((time.perf_counter() - start) * 1e3)
    row = {
        "backend": backend,
        "mode": mode,
        "first_step_s": first_s,
        "step_ms": min(times),
        "step_median_ms": statistics.median(times),
        "kernel_calls_per_step": (kernel_calls() - calls) / s.repeats,
    }
    return row, (first_loss, first_grads)


def ratios(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Per backend: eager median step / compiled median step (> 1: compiling is faster)."""
    by = {(r["backend"], r["mode"]): r for r in rows}
    return {
        b: by[(b, "eager")]["step_median_ms"] / by[(b, "compiled")]["step_median_ms"]
        for b in dict.fromkeys(r["backend"] for r in rows)
        if (b, "eager") in by and (b, "compiled") in by
    }


def run(s: Settings) -> dict[str, Any]:
    """Every backend in both modes; the rows, ratios and first-step differences."""
    torch.set_num_threads(s.threads)
    info = machine_info()
    rows, diffs = [], {}
    for backend in s.backends:
        firsts = {}
        for mode in MODES:
            row, firsts[mode] = measure(backend, mode, s)
            rows.append(row)
            print(
                f"{backend:6s} {mode:9s} first step {row['first_step_s']:7.2f} s, "
                f"step {row['step_ms']:8.2f} ms (median {row['step_median_ms']:.2f})",
                flush=True,
            )
        diffs[backend] = first_step_difference(firsts["eager"], firsts["compiled"])
    info["loadavg_end"] = list(os.getloadavg())
    return {
        "settings": asdict(s),
        "machine": info,
        "rows": rows,
        "eager_over_compiled": ratios(rows),
        "first_step_max_difference": diffs,
    }


def markdown(result: dict[str, Any], cmd: str) -> str:
    """The report: command, machine and load, one table row per (backend, mode)."""
    s, m = result["settings"], result["machine"]
    lines = [
        "# Eager vs torch.compile: a csnn_tiny training step on CPU",
        "",
        f"Command: `{cmd}`  ",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, torch {m['torch']} "
        f"({s['threads']} thread(s)), Python {m['python']}, {m['date']}  ",
        f"Load average start/end: {m['loadavg_start']} / {m['loadavg_end']}  ",
        f"Input [T={s['timesteps']}, B={s['batch']}, 1, {s['input_size']}, "
        f"{s['input_size']}], float32; compiled with `torch.compile(model, fullgraph=True, "
        f"backend={s['compile_backend']!r})`; best and median of {s['repeats']} steps "
        "after the first.",
        "",
        "| neuron backend | mode | first step (s) | step (ms, best) | step (ms, median) "
        "| fused kernel calls / step |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['backend']} | {r['mode']} | {r['first_step_s']:.2f} | {r['step_ms']:.2f} "
            f"| {r['step_median_ms']:.2f} | {r['kernel_calls_per_step']:g} |"
        )
    lines.append("")
    for backend, ratio in result["eager_over_compiled"].items():
        verdict = "faster" if ratio > 1 else "not faster"
        diff = result["first_step_max_difference"][backend]
        lines.append(
            f"- `{backend}`: eager / compiled median step = {ratio:.2f} (compiled is "
            f"{verdict}); first step's loss and gradients differ by at most {diff:.2e}."
        )
    return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
    """The options; sizes default to ``None`` so that :func:`settings_from` can tell an
    option given from one left to ``--quick`` or the default."""
    d = Settings()
    p = argparse.ArgumentParser(
        prog=f"spikeforge bench {NAME}", description=(__doc__ or "").strip().splitlines()[0]
    )
    p.add_argument("--quick", action="store_true", help=f"a smoke test: {QUICK}")
    p.add_argument("--timesteps", type=int, help=f"T (default {d.timesteps})")
    p.add_argument("--batch", type=int, help=f"B (default {d.batch})")
    p.add_argument("--input-size", type=int, help=f"S (default {d.input_size})")
    p.add_argument("--repeats", type=int, help=f"timed steps (default {d.repeats})")
    p.add_argument("--threads", type=int, help=f"torch threads (default {d.threads})")
    p.add_argument(
        "--backends", nargs="+", choices=BACKENDS, help=f"neuron backends (default {BACKENDS})"
    )
    p.add_argument("--compile-backend", help=f"torch.compile backend (default {d.compile_backend})")
    p.add_argument("--out", metavar="DIR", default=None, help="write compile_cpu.json and .md here")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``spikeforge bench compile [--quick] [--timesteps T] [--batch B] [--input-size S]
    [--repeats N] [--threads K] [--backends auto torch] [--compile-backend NAME]
    [--out DIR]``."""
    p = parser()
    args = p.parse_args(argv)
    try:
        s = settings_from(args)
    except ValueError as error:
        p.error(str(error))
    reason = _build.unavailable_reason()
    if reason is not None and "auto" in s.backends:
        p.error(f"the fused CPU kernels are unavailable: {reason}")
    result = run(s)
    cmd = command(NAME, arguments(argv))
    result["command"] = cmd
    text = markdown(result, cmd)
    print(text)
    if args.out is not None:
        out = out_dir(args.out)
        (out / "compile_cpu.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / "compile_cpu.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
