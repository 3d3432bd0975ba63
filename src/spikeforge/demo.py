"""The main job: the three-stage LaSNN pipeline on the bundled digits (``make demo``).

scikit-learn's 8×8 handwritten digits (real data, fixed stratified split): a teacher
ANN, an intermediate ANN converted to an SNN by threshold balancing, then student SNNs
at T=4 (from scratch, response KD, feature KD, LaSNN with activation / gradient
attention, Joint A-SNN), compared in one table of accuracy, firing rate and energy per
inference — ``spikeforge run lasnn --dataset digits --quick`` in a fresh run directory
(the shipped config ``lasnn_digits``, its ``quick`` overrides). See
:mod:`spikeforge.pipelines.lasnn`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .pipelines.lasnn import format_table, run_lasnn


def run_demo(
    overrides: list[str] | None = None,
    *,
    epochs: int | None = None,
    quick: bool = True,
    run_dir: str | Path | None = None,
    seeds: int = 1,
    threads: int | None = 1,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Run the LaSNN pipeline on digits; returns its result plus ``wall_seconds``.

    Args:
        overrides: pipeline config changes, ``"student.train.epochs=4"`` style.
        epochs: if given, the epochs of every training stage (teacher, intermediate,
            students) — a knob for tests and smoke runs.
        quick: use the config's ``quick`` settings (the default: a few minutes on 2 cores).
        run_dir: default ``runs/demo-lasnn-<timestamp>`` (a fresh run each time).
        seeds: student seeds.
        threads: torch intra-op threads while it runs (restored after; ``None``: leave
            as is). One is fastest here: these 8×8 convs are too small to parallelise,
            and extra threads only contend on a shared machine.
        log: progress lines (``None``: silent).
    """
    extra = list(overrides or [])
    if epochs is not None:
        extra = [
            f"{s}.train.epochs={int(epochs)}" for s in ("teacher", "intermediate", "student")
        ] + extra
    run_dir = run_dir or Path("runs") / f"demo-lasnn-{time.strftime('%Y%m%d-%H%M%S')}"
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    start = time.perf_counter()
    try:
        result = run_lasnn(
            "digits", run_dir=run_dir, quick=quick, overrides=extra, seeds=seeds, log=log
        )
    finally:
        torch.set_num_threads(previous)
    return {**result, "wall_seconds": time.perf_counter() - start}


def format_result(result: dict[str, Any]) -> str:
    """The comparison table with a one-line header."""
    head = (
        f"LaSNN pipeline on digits: students at T={result['timesteps']} "
        f"({result['wall_seconds']:.1f} s; run in {result['run_dir']})"
    )
    if result.get("status") != "complete":
        return f"{head}\npipeline {result.get('status')} in stage {result.get('stage')}"
    return f"{head}\n{format_table(result)}"
