"""T-RevSNN training memory and time per step: reversible vs BPTT of the same network.

One training step (forward, the ``trevsnn`` loss, backward) of ``trevsnn_cifar`` on
CIFAR-sized inputs ``[T, B, 3, 32, 32]`` (random pixels: memory and time do not depend on
the values), swept over blocks per stage (1, 2, 4, 8 at T = 4) and over T (2, 4, 8 at 2
blocks), each trained reversibly (``reversible=True``) and by plain BPTT
(``reversible=False``), plus a SEW-ResNet-18 of similar parameter count under BPTT. Per
row:

- ``saved_mib``: what autograd keeps for backward after the forward — the distinct
  storages passed to ``torch.autograd.graph.saved_tensors_hooks`` (the reversible
  Function's ``save_for_backward`` goes through them too), parameters excluded, plus the
  Function's random-number states (T·4 CPU generator states). Deterministic.
- ``peak_mib``: how far the process's resident set rose during the whole step
  (:func:`~spikeforge.bench.rss.resident_peak_extra_bytes`: activations, the recomputed
  block in backward, gradients, allocator slack); ``None`` without Linux's counters. Each
  row runs in a fresh Python process with glibc's mmap threshold fixed
  (``MALLOC_MMAP_THRESHOLD_``), so rows do not share freed memory.
- ``grad_mib``: the parameters' gradients, part of every step's peak (they grow with the
  blocks per stage under any training), so ``peak − grad`` is the rest.
- ``seconds``: median wall time of the step, timed apart from the memory rows: the
  reversible and the BPTT model of one (blocks, T) are built in one fresh process (the
  allocator as usual, no fixed mmap threshold, which would fault pages in every step)
  and their steps alternate, ``repeats`` of each, so a load change hits both alike;
  ``time_ratio`` is reversible / BPTT of that pair. The SEW-ResNet-18 is timed alone,
  also in a process of its own with the usual allocator.

A second table counts dense operations per time step (MACs as an ANN would do them, from
:func:`~spikeforge.models.trevsnn.step_operations`, eval mode) at a fixed total budget of
8 blocks per stage split over T columns (T, blocks) = (2, 4), (4, 2), (8, 1): whether the
cost of a step stays constant as T grows (the paper's "O(1)" reading) or shrinks.

Usage::

    spikeforge bench trevsnn_memory --quick           # small and fast, prints only
    spikeforge bench trevsnn_memory --out benchmarks/results

Writes ``trevsnn_memory.json`` / ``.md`` only with ``--out DIR``; always prints the tables.
Records the machine and its load average.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..losses import TRevSNNLoss
from ..models import create
from ..models.trevsnn import step_operations
from .results import check_threads, cpu_parser, machine_line, machine_meta, show
from .rss import MMAP_THRESHOLD, resident_peak_extra_bytes, run_fresh

NAME = "trevsnn_memory"
MIB = 2**20

FULL = {"batch": 32, "size": 32, "channels": (16, 32, 64, 128), "repeats": 5}
QUICK = {"batch": 4, "size": 16, "channels": (4, 8, 8, 8), "repeats": 1}
BLOCKS = (1, 2, 4, 8)
STEPS = (2, 4, 8)
BUDGET = ((2, 4), (4, 2), (8, 1))  # (T, blocks): 8 blocks per stage in all


def trevsnn(settings: dict[str, Any], blocks: int, steps: int, reversible: bool) -> nn.Module:
    torch.manual_seed(0)
    return create(
        "trevsnn_cifar",
        num_classes=10,
        in_channels=3,
        input_size=settings["size"],
        channels=settings["channels"],
        blocks=blocks,
        timesteps=steps,
        reversible=reversible,
    )


def resnet_like(settings: dict[str, Any], params: int) -> tuple[nn.Module, int]:
    """SEW-ResNet-18 whose base width gives the parameter count nearest ``params``."""
    best: tuple[int, int] | None = None
    for width in range(4, 129, 2):
        torch.manual_seed(0)
        model = create(
            "sew_resnet18",
            num_classes=10,
            in_channels=3,
            base_width=width,
            input_size=settings["size"],
        )
        n = sum(p.numel() for p in model.parameters())
        if best is None or abs(n - params) < abs(best[1] - params):
            best = (width, n)
        if n > params:
            break
    assert best is not None
    torch.manual_seed(0)
    model = create(
        "sew_resnet18",
        num_classes=10,
        in_channels=3,
        base_width=best[0],
        input_size=settings["size"],
    )
    return model, best[0]


def _inputs(settings: dict[str, Any], steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    b, s = settings["batch"], settings["size"]
    x = torch.rand(b, 3, s, s, generator=g)
    return x.unsqueeze(0).expand(steps, *x.shape), torch.randint(0, 10, (b,), generator=g)


def saved_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Distinct non-parameter storages autograd keeps after ``model(x)`` (one forward)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    del out
    extra = 0
    if getattr(model, "reversible", False):  # RNG states kept on the Function's ctx
        extra = 4 * model.timesteps * torch.get_rng_state().nbytes
    return sum(storages.values()) + extra


def measure(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: Callable, repeats: int
) -> dict[str, Any]:
    """``saved_mib``, ``peak_mib``, ``seconds`` of one training step (see the docstring)."""
    model.train()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        loss(model(x), y).backward()

    step()  # warm-up: first-call allocations and lazy initialisation
    saved = saved_bytes(model, x)
    model.zero_grad(set_to_none=True)
    peak = resident_peak_extra_bytes(step)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "grad_mib": sum(p.numel() * p.element_size() for p in model.parameters()) / MIB,
        "saved_mib": saved / MIB,
        "peak_mib": None if peak is None else peak / MIB,
        "seconds": statistics.median(times) if times else None,
    }


def measure_case(settings: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    """One row, measured in this process: ``case`` is ``{"blocks", "T", "reversible"}``
    for T-RevSNN, or ``{"resnet_width", "T"}`` for the SEW-ResNet-18 baseline."""
    torch.set_num_threads(int(case.get("threads", 1)))
    x, y = _inputs(settings, case["T"])
    repeats = int(case.get("repeats", settings["repeats"]))  # 0: memory only, seconds None
    if "resnet_width" in case:
        torch.manual_seed(0)
        model = create(
            "sew_resnet18",
            num_classes=10,
            in_channels=3,
            base_width=case["resnet_width"],
            input_size=settings["size"],
        )
        ce = nn.CrossEntropyLoss(label_smoothing=0.1)
        return measure(model, x, y, lambda out, y: ce(out.mean(0), y), repeats)
    model = trevsnn(settings, case["blocks"], case["T"], case["reversible"])
    return measure(model, x, y, TRevSNNLoss(label_smoothing=0.1), repeats)


def _fresh(
    settings: dict[str, Any],
    case: dict[str, Any],
    function: str = "measure_case",
    fixed_mmap: bool = True,
) -> dict[str, Any]:
    """``function`` (:func:`measure_case` or :func:`time_pair`) of this module in a fresh
    process (:func:`~.rss.run_fresh`: memory rows with glibc's mmap threshold fixed, as
    ``tests/test_methods_online.py``; timing with the allocator as usual)."""
    payload = {**settings, "channels": list(settings["channels"])}
    got = run_fresh(__name__, function, payload, case, fixed_mmap)
    if "failed" in got:
        raise RuntimeError(f"measuring {case} failed: {got['failed']}")
    return got


def time_pair(settings: dict[str, Any], case: dict[str, Any]) -> dict[str, float]:
    """Median step seconds of the reversible and the BPTT model at ``case``'s
    ``{"blocks", "T"}``, their steps alternating (``settings["repeats"]`` each, after a
    warm-up step each): ``{"reversible": s, "bptt": s}``."""
    torch.set_num_threads(int(case.get("threads", 1)))
    x, y = _inputs(settings, case["T"])
    loss = TRevSNNLoss(label_smoothing=0.1)
    models = {
        name: trevsnn(settings, case["blocks"], case["T"], name == "reversible").train()
        for name in ("reversible", "bptt")
    }
    times: dict[str, list[float]] = {name: [] for name in models}
    for repeat in range(settings["repeats"] + 1):
        for name, model in models.items():
            start = time.perf_counter()
            model.zero_grad(set_to_none=True)
            loss(model(x), y).backward()
            if repeat:  # the first round warms up
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def memory_rows(settings: dict[str, Any], threads: int = 1) -> list[dict[str, Any]]:
    """Every T-RevSNN case, reversible and BPTT, then the SEW-ResNet-18 of the nearest
    parameter count to T-RevSNN at 2 blocks and T = 4; each in a fresh process."""
    rows = []
    cases = [(b, 4) for b in BLOCKS] + [(2, t) for t in STEPS if t != 4]
    for blocks, steps in cases:
        pair = {"blocks": blocks, "T": steps, "threads": threads}
        timed = _fresh(settings, pair, "time_pair", fixed_mmap=False)
        for reversible in (True, False):
            case = {**pair, "reversible": reversible, "repeats": 0}
            mode = "reversible" if reversible else "BPTT"
            row = _fresh(settings, case)
            row["seconds"] = timed["reversible" if reversible else "bptt"]
            row["time_ratio"] = timed["reversible"] / timed["bptt"] if reversible else None
            rows.append(
                {"model": "T-RevSNN", "training": mode, "blocks": blocks, "T": steps, **row}
            )
    target = next(r["params"] for r in rows if (r["blocks"], r["T"]) == (2, 4))
    _, width = resnet_like(settings, target)
    case = {"resnet_width": width, "T": 4, "threads": threads}
    row = _fresh(settings, {**case, "repeats": 0})
    row["seconds"] = _fresh(settings, case, fixed_mmap=False)["seconds"]
    row["time_ratio"] = None
    rows.append(
        {
            "model": f"SEW-ResNet-18 (width {width})",
            "training": "BPTT",
            "blocks": None,
            "T": 4,
            **row,
        }
    )
    return rows


def budget_rows(settings: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for steps, blocks in BUDGET:
        model = trevsnn(settings, blocks, steps, True)
        x, _ = _inputs(settings, steps)
        parts = step_operations(model, x[:, :2])
        per_step = [c.total_macs for c in parts["steps"]]
        rows.append(
            {
                "T": steps,
                "blocks": blocks,
                "params": sum(p.numel() for p in model.parameters()),
                "stem_macs": parts["stem"].total_macs,
                "macs_per_step": per_step,
                "head_macs": parts["head"].total_macs,
                "total_macs": parts["stem"].total_macs + sum(per_step) + parts["head"].total_macs,
            }
        )
    return rows


def _mib(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def _ratio(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}×"


def markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    lines = [
        "# T-RevSNN: training memory and time per step",
        "",
        f"{machine_line(meta)} Batch {meta['settings']['batch']}, "
        f"{meta['settings']['size']}×{meta['settings']['size']} inputs, channels "
        f"{list(meta['settings']['channels'])}.",
        "",
        "| model | training | blocks/stage | T | parameters | saved for backward (MiB) "
        "| peak step (MiB) | of which gradients (MiB) | s/step | time / BPTT's |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["memory"]:
        lines.append(
            f"| {r['model']} | {r['training']} | {r['blocks'] or '-'} | {r['T']} | {r['params']:,} "
            f"| {_mib(r['saved_mib'])} | {_mib(r['peak_mib'])} | {_mib(r['grad_mib'])} "
            f"| {r['seconds']:.3f} | {_ratio(r.get('time_ratio'))} |"
        )
    lines += [
        "",
        "Dense MACs per sample at a fixed budget of 8 blocks per stage over T columns "
        "(eval mode; the stem once, then each step's column, then the last head):",
        "",
        "| T | blocks/column | parameters | stem MACs | MACs per step | head MACs | total MACs |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["budget"]:
        steps = ", ".join(f"{m:,.0f}" for m in r["macs_per_step"])
        lines.append(
            f"| {r['T']} | {r['blocks']} | {r['params']:,} | {r['stem_macs']:,.0f} | {steps} "
            f"| {r['head_macs']:,.0f} | {r['total_macs']:,.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``spikeforge bench trevsnn_memory [--quick] [--threads K] [--out DIR]``."""
    parser = cpu_parser(NAME, __doc__)
    args = parser.parse_args(argv)
    check_threads(parser, args)
    torch.set_num_threads(args.threads)
    settings = QUICK if args.quick else FULL
    load_start = os.getloadavg()
    memory = memory_rows(settings, args.threads)
    budget = budget_rows(settings)
    shown = {**settings, "channels": list(settings["channels"])}
    meta = machine_meta(NAME, argv, args.threads, shown, load_start)
    meta["mmap_threshold"] = MMAP_THRESHOLD
    result = {"meta": meta, "memory": memory, "budget": budget}
    show(args.out, NAME, result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
