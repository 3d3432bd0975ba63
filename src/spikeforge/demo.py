"""The main job, for now: a small conv SNN trained by surrogate BPTT on digits.

scikit-learn's bundled 8×8 handwritten digits (real data, fixed stratified split),
direct encoding over T steps, ``csnn_tiny`` with LIF neurons, cross-entropy on the
time-averaged readout (``configs/digits_csnn.yaml``). Prints test accuracy and
per-layer firing rates. The LaSNN pipeline will take over this entry point.
"""

from __future__ import annotations

import time
from typing import Any

from .engine.config import Config, apply_overrides
from .engine.run import run_directory, train


def demo_config(overrides: list[str] | None = None) -> Config:
    """The demo's configuration (same values as ``configs/digits_csnn.yaml``)."""
    config = Config()  # defaults are the demo's settings
    config.train.run_name = f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    return apply_overrides(config, list(overrides or []))


def run_demo(overrides: list[str] | None = None) -> dict[str, Any]:
    """Train and return ``{"test_acc", "firing_rates", "seconds", "run_dir", ...}``."""
    config = demo_config(overrides)
    start = time.perf_counter()
    trainer, final = train(config, run_directory(config))
    return {**final, "wall_seconds": time.perf_counter() - start, "run_dir": str(trainer.run_dir)}


def format_result(result: dict[str, Any]) -> str:
    """A short human-readable summary."""
    lines = [
        f"digits test accuracy: {result['test_acc']:.4f}  "
        f"({result['epoch']} epochs, {result['wall_seconds']:.1f} s; run in {result['run_dir']})",
        "per-layer firing rate (spikes per neuron per step):",
    ]
    lines += [f"  layer {name:>4}: {rate:.4f}" for name, rate in result["firing_rates"].items()]
    return "\n".join(lines)
