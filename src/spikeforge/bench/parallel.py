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

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..neurons import IPSU, LIF, PSN, PSU, RPSU, MaskedPSN, ParaLIF, SlidingPSN
from .device import machine_info
from .layers import (
    finish_run,
    layer_bench_main,
    measure_candidates,
    ratio_sections,
    report_header,
)

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


def run(quick: bool = False, json_path: str | None = None) -> str:
    """Run the benchmark; return a Markdown report (and write JSON to ``json_path``)."""
    cfg = QUICK if quick else FULL
    info = machine_info()
    torch.manual_seed(0)
    candidates = [("all", name, f) for name, f in [*_ours(), *_spikingjelly()]]
    rows = measure_candidates(cfg, candidates, {"all": REFERENCE})
    return finish_run(rows, cfg, info, _report, json_path)


def _report(rows: list[dict[str, Any]], cfg: dict[str, Any], info: dict[str, Any], cmd: str) -> str:
    Ts = cfg["T"]
    lines = [
        *report_header("Parallel neurons vs sequential LIF (CPU)", cfg, info, cmd),
        *ratio_sections(rows, Ts, f"`{REFERENCE}` (higher = faster)"),
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
    return layer_bench_main(__doc__.splitlines()[0], run, argv, "small sizes (< 60 s)")


if __name__ == "__main__":
    raise SystemExit(main())
