"""Speed of the parallel neuron family (PSN, PSU, ParaLIF) relative to a sequential LIF.

For each T, one layer of B × N neurons is driven by the same random input ``[T, B, N]``
and timed in two modes:

- **inference**: forward under ``torch.no_grad()``;
- **training**: forward with an input that requires grad + ``backward`` of
  ``(spikes · g).sum()`` for a fixed upstream gradient ``g`` (so the surrogate runs).

The reference is our LIF (τ = 2, V_th = 1, hard reset, atan) with ``backend="torch"``
(the plain-torch time loop); ``backend="auto"`` (a fused kernel where one is
registered) is listed too. The PSN family and ParaLIF-T run with their default
``backend="auto"`` (the fused CPU ``"psn"`` kernel) and again with ``"torch"`` (one
``addmm`` + spike function); a last section compares the fused PSN family's training time
with SpikingJelly's PSN (target: ≥ 2× at T = 16, 32, 64), with SpikingJelly's same variant,
and with our fused LIF. Ratios are ``time(LIF reference) / time(neuron)`` — above
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

from ..kernels.cpu.psn import stream_outputs
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
FUSED_LIF = "LIF (auto)"
SJ_PSN = "SpikingJelly PSN"
#: our PSN-family rows (default backend: the fused kernel) -> SpikingJelly's same variant
FAMILY = {
    "PSN": SJ_PSN,
    f"MaskedPSN k={MASKED_K} (λ=1)": f"SpikingJelly MaskedPSN k={MASKED_K}",
    f"SlidingPSN k={SLIDING_K}": "SpikingJelly SlidingPSN",
}
TARGET_STEPS = (16, 32, 64)
TARGET_VS_SJ = 2.0  # issue #22: PSN family training >= 2x SpikingJelly's PSN

Factory = Callable[[int], nn.Module]


def _ours() -> list[tuple[str, Factory]]:
    return [
        (REFERENCE, lambda T: LIF(backend="torch")),
        (FUSED_LIF, lambda T: LIF(backend="auto")),
        ("PSN", lambda T: PSN(T)),
        ("PSN (torch)", lambda T: PSN(T, backend="torch")),
        (f"MaskedPSN k={MASKED_K} (λ=1)", lambda T: MaskedPSN(T, k=MASKED_K, mask_progress=1.0)),
        (
            f"MaskedPSN k={MASKED_K} (λ=1, torch)",
            lambda T: MaskedPSN(T, k=MASKED_K, mask_progress=1.0, backend="torch"),
        ),
        (f"SlidingPSN k={SLIDING_K}", lambda T: SlidingPSN(k=SLIDING_K)),
        (f"SlidingPSN k={SLIDING_K} (torch)", lambda T: SlidingPSN(k=SLIDING_K, kernel="torch")),
        ("PSU", lambda T: PSU(T)),
        ("IPSU", lambda T: IPSU(T)),
        ("RPSU", lambda T: RPSU(T)),
        ("ParaLIF-SB", lambda T: ParaLIF("SB")),
        ("ParaLIF-T", lambda T: ParaLIF("T")),
        ("ParaLIF-T (torch)", lambda T: ParaLIF("T", backend="torch")),
        ("ParaLIF-D", lambda T: ParaLIF("D")),
    ]


def _spikingjelly() -> list[tuple[str, Factory | str]]:
    names = list(FAMILY.values())
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
    lines += family_section(rows, Ts)
    return "\n".join(lines)


def _train_ms(rows: list[dict[str, Any]], name: str, T: int) -> float | None:
    row = next((r for r in rows if r["neuron"] == name and r["T"] == T), None)
    return row["train_ms"] if row is not None and row["status"] == "ok" else None


def family_section(rows: list[dict[str, Any]], Ts: list[int]) -> list[str]:
    """Training-time ratios of our PSN family (default backend: fused) over SpikingJelly's
    PSN, over SpikingJelly's same variant and over our fused LIF (``time(other) /
    time(ours)``: above 1 = ours faster), and the verdict on the 2× target at
    :data:`TARGET_STEPS` (those of ``Ts`` that were run)."""
    steps = [T for T in Ts if T in TARGET_STEPS] or list(Ts)
    header = "| ours (training) | " + " | ".join(f"T={T}" for T in steps) + " |"
    rule = "|---" * (len(steps) + 1) + "|"
    lines = [
        "## PSN family (fused) vs SpikingJelly and our fused LIF, training",
        "",
        "Fused PSN outputs written with non-temporal stores: "
        f"{'yes' if stream_outputs() else 'no'} (`SPIKEFORGE_PSN_STREAM`).",
        "",
    ]
    ratios: list[float] = []
    for title, other in (
        (f"time({SJ_PSN}) / time(ours)", lambda name: SJ_PSN),
        ("time(SpikingJelly, same variant) / time(ours)", lambda name: FAMILY[name]),
        (f"time({FUSED_LIF}) / time(ours)", lambda name: FUSED_LIF),
    ):
        lines += [title, "", header, rule]
        for name in FAMILY:
            cells = []
            for T in steps:
                ours, theirs = _train_ms(rows, name, T), _train_ms(rows, other(name), T)
                if ours is None or theirs is None:
                    cells.append("-")
                    continue
                cells.append(f"{theirs / ours:.2f}")
                if other(name) == SJ_PSN:
                    ratios.append(theirs / ours)
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    expected = len(FAMILY) * len(steps)
    if len(ratios) < expected:
        verdict = f"**not measured** ({SJ_PSN} or a PSN row did not run)"
    else:
        met = "met" if min(ratios) >= TARGET_VS_SJ else "NOT met"
        verdict = f"**{met}** — slowest ratio {min(ratios):.2f}×"
    lines += [
        f"Target (PSN family training ≥ {TARGET_VS_SJ:g}× {SJ_PSN} at T = "
        f"{', '.join(map(str, steps))}): {verdict}.",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    return layer_bench_main(__doc__.splitlines()[0], run, argv, "small sizes (< 60 s)")


if __name__ == "__main__":
    raise SystemExit(main())
