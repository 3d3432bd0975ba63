"""Training memory of one step: spikeforge's memory modes vs SpikingJelly, snnTorch, ReLU.

One training step (forward, cross-entropy of the output's mean over T, backward) on
random CIFAR-shaped input ``x [T, B, 3, 32, 32]`` (float32; memory and time do not depend
on the values), per row in a fresh Python process, ``--threads`` torch threads (default
1). The networks and how each library is set up to the same LIF (τ = 2, V_th = 1, hard
reset to 0, decay-input charge, arctan α = 2): :mod:`.training_memory_nets`.

Rows: the two-conv net (conv3→64+BN+LIF, conv64→128/2+BN+LIF, avg-pool, fc) at T = 4 and
16, B = 32; SEW-ResNet-18 (CIFAR stem, width 64) at T = 4, B = 32. For each: spikeforge
under ``train.memory`` = ``full`` (plain autograd), ``compact`` (spikes saved as bits,
BN outputs not kept: a LIF neuron after BN rebuilds them in its backward kernel) and
``checkpoint`` (block recomputation); SpikingJelly 2.0
(multi-step); snnTorch (two-conv only); the same network with ReLU and no time axis, run on
the T·B images at once. A row that cannot run here (a peer not installed, a memory mode
not built yet) is listed as unavailable with the reason; a row that fails is listed as
failed and the command exits with status 1 after writing everything else.

Per row:

- ``saved_mib``: what autograd keeps for backward after the forward — the distinct
  storages in what the saved-tensor pack hooks return (:class:`SavedTensorMeter`: it is
  entered inside a memory mode's own hooks and counts what they pack, e.g. bit-packed
  spikes), parameters excluded. Deterministic.
- ``graph_mib``: a check of ``saved_mib`` that needs no hook: how much the resident set
  falls when the forward's output (and so its autograd graph) is dropped
  (:func:`graph_resident_bytes`); it also sees memory a graph holds outside the hooks
  (e.g. tensors a custom autograd Function keeps as attributes of its context rather than
  through ``save_for_backward``). ``None`` without Linux's counters.
- ``peak_mib``: how far the resident set rose during the whole step
  (:func:`~spikeforge.bench.rss.resident_peak_extra_bytes`), glibc's mmap threshold fixed
  per process so rows do not share freed memory.
- ``images_per_s``: B / the median step time over ``--repeats`` steps after a warm-up.
- ``paired_vs_full`` (spikeforge's rows): the speed of the mode relative to ``full``
  measured on ONE model in ONE process, the three modes' steps interleaved (the order
  rotating each round) for ``3·--repeats`` rounds: the median over rounds of
  ``time(full) / time(mode)`` (:func:`paired_speed`), with glibc's allocator left as a
  training run has it (no fixed mmap threshold). Rows timed in separate processes
  differ by 20–30 % between runs on a shared 2-core virtual machine; interleaving makes
  that drift hit every mode alike, so the speed target is judged on this ratio.

For spikeforge's rows: ``saved`` as a fraction of SpikingJelly's and of the ReLU net's
(same net and T), and images/s as a fraction of ``full``'s. The issue's targets (#22:
≤ 0.4× SpikingJelly's saved bytes, ≤ the ReLU network's, ≥ 95 % of ``full``'s images/s)
are printed as met / not met: computed, never asserted.

Usage::

    spikeforge bench training_memory --quick        # small and fast, prints only
    spikeforge bench training_memory --out benchmarks/results

Writes ``training_memory.json`` / ``.md`` only with ``--out DIR``; always prints the table.
Records the machine, the peers' versions and the load average.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from types import TracebackType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .results import command, write_results
from .rss import (
    MMAP_THRESHOLD,
    _status_kib,
    _trim_free_memory,
    resident_peak_extra_bytes,
    resident_peak_reason,
    run_fresh,
)
from .training_memory_nets import (
    IMPLS,
    MEMORY_MODES,
    NETS,
    NUM_CLASSES,
    UnavailableError,
    build,
    memory_context,
)

NAME = "training_memory"
MIB = 2**20

FULL: dict[str, Any] = {"batch": 32, "size": 32, "steps": [4, 16], "resnet_steps": [4]}
FULL |= {"resnet_batch": 32, "repeats": 5}
QUICK: dict[str, Any] = {"batch": 2, "size": 8, "steps": [2], "resnet_steps": [2]}
QUICK |= {"resnet_batch": 2, "repeats": 1}

# The issue's targets for spikeforge's memory modes (#22 "Must show").
TARGET_VS_SPIKINGJELLY = 0.4
TARGET_VS_RELU = 1.0
TARGET_SPEED = 0.95


# --------------------------------------------------------------------- the saved bytes


def _buffers(obj: object, depth: int = 0) -> Iterator[tuple[int, int]]:
    """``(address, bytes)`` of each memory block held by ``obj``: a tensor's storage, a
    numpy array's owning buffer, found in tuples, lists, dicts and objects' attributes
    (a pack hook may return any of them; modules and weak references are not followed)."""
    if isinstance(obj, torch.Tensor):
        storage = obj.untyped_storage()
        if storage.nbytes():
            yield storage.data_ptr(), storage.nbytes()
        return
    if depth > 4 or obj is None or isinstance(obj, int | float | str | bool | torch.dtype):
        return
    if isinstance(obj, nn.Module | weakref.ref):
        return  # a module a token points to is alive anyway: not kept for backward
    base = getattr(obj, "__array_interface__", None)
    if base is not None and hasattr(obj, "nbytes"):  # numpy: count the owning buffer
        while getattr(obj, "base", None) is not None:
            obj = obj.base  # type: ignore[attr-defined]
        yield obj.__array_interface__["data"][0], int(obj.nbytes)  # type: ignore[attr-defined]
        return
    if isinstance(obj, tuple | list | set | frozenset):
        items: Any = obj
    elif isinstance(obj, dict):
        items = obj.values()
    else:
        items = getattr(obj, "__dict__", {}).values()
        slots = getattr(type(obj), "__slots__", ())
        items = [*items, *(getattr(obj, s) for s in slots if hasattr(obj, s))]
    for item in items:
        yield from _buffers(item, depth + 1)


class SavedTensorMeter:
    """Counts the distinct storages autograd keeps for backward while it is entered,
    parameters' storages excluded (``exclude``).

    Saved-tensor hooks do not nest (only the innermost pair runs), so on entry the meter
    takes the pair active at that moment (e.g. a memory mode's packing hooks), pushes its
    own pair that calls them, and counts what *their* pack returns: the bytes autograd
    really keeps. Without an outer pair it keeps ``t.detach()`` (the same storage; no
    reference cycle through the graph).
    """

    def __init__(self, exclude: Sequence[torch.Tensor] = ()) -> None:
        self.exclude = {t.untyped_storage().data_ptr() for t in exclude}
        self.storages: dict[int, int] = {}
        self._outer: tuple[Callable, Callable] | None = None
        self._hooks: torch.autograd.graph.saved_tensors_hooks | None = None

    @property
    def nbytes(self) -> int:
        """Bytes of the distinct storages counted so far."""
        return sum(self.storages.values())

    def _pack(self, t: torch.Tensor) -> Any:
        packed = t.detach() if self._outer is None else self._outer[0](t)
        for address, size in _buffers(packed):
            if address not in self.exclude:
                self.storages[address] = max(size, self.storages.get(address, 0))
        return packed

    def _unpack(self, packed: Any) -> torch.Tensor:
        return packed if self._outer is None else self._outer[1](packed)

    def __enter__(self) -> SavedTensorMeter:
        top = getattr(torch._C._autograd, "_top_saved_tensors_default_hooks", None)
        self._outer = None if top is None else top(False)
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._hooks is not None
        self._hooks.__exit__(kind, exc, tb)


def saved_bytes(forward: Callable[[Callable[[], Any]], Any], params: Sequence[torch.Tensor]) -> int:
    """Bytes autograd keeps after one ``forward(inner)`` (``inner``: the context factory
    the forward enters innermost), parameters excluded (:class:`SavedTensorMeter`)."""
    meter = SavedTensorMeter(params)
    out = forward(lambda: meter)
    del out
    return meter.nbytes


def graph_resident_bytes(
    forward: Callable[[], Any], release: Callable[[], None] = lambda: None
) -> int | None:
    """How far the resident set falls when the output of ``forward()`` (and with it the
    autograd graph) is dropped and ``release()`` has cleared what the model keeps between
    calls: the memory the graph holds, found without hooks (plus the output itself,
    ``[T, B, 10]``: a few KiB). ``None`` without Linux's counters."""
    if resident_peak_reason() is not None:
        return None
    out = forward()
    _trim_free_memory()
    held = _status_kib("VmRSS")
    del out
    release()
    _trim_free_memory()
    return max(0, held - _status_kib("VmRSS")) * 1024


# ---------------------------------------------------------------------------- one row


def cases(settings: dict[str, Any], nets: Sequence[str] = NETS) -> list[dict[str, Any]]:
    """Every row's case ``{"net", "impl", "memory", "T", "batch"}``, in table order."""
    out = []
    for net in nets:
        steps = settings["steps"] if net == "two_conv" else settings["resnet_steps"]
        batch = settings["batch"] if net == "two_conv" else settings["resnet_batch"]
        for t in steps:
            for impl in IMPLS:
                if impl == "snntorch" and net != "two_conv":
                    continue  # snnTorch has no SEW-ResNet
                for memory in MEMORY_MODES if impl == "spikeforge" else (None,):
                    out.append({"net": net, "impl": impl, "memory": memory, "T": t, "batch": batch})
    return out


def _batch(settings: dict[str, Any], case: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The step's seeded input ``[T, B, 3, size, size]`` and labels ``[B]``."""
    g = torch.Generator().manual_seed(0)
    size = settings["size"]
    x = torch.rand(case["T"], case["batch"], 3, size, size, generator=g)
    return x, torch.randint(0, NUM_CLASSES, (case["batch"],), generator=g)


def measure_case(settings: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    """One row measured in this process (see the module docstring), or
    ``{"unavailable": reason}`` when it cannot run here."""
    torch.set_num_threads(int(case.get("threads", 1)))
    torch.manual_seed(0)
    try:
        subject = build(case["net"], case["impl"], settings["size"], case["memory"])
    except UnavailableError as exc:
        return {"unavailable": str(exc)}
    x, y = _batch(settings, case)
    model, params = subject.model, list(subject.model.parameters())
    model.train()

    def forward(inner: Callable[[], Any] = nullcontext) -> torch.Tensor:
        return subject.forward(x, inner)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(forward().mean(0), y).backward()

    step()  # warm-up: first-call allocations, kernel loading, lazy initialisation
    saved = saved_bytes(forward, params)
    subject.release()
    graph = graph_resident_bytes(forward, subject.release)
    model.zero_grad(set_to_none=True)
    gc.collect()
    peak = resident_peak_extra_bytes(step)
    times = []
    for _ in range(int(settings["repeats"])):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {
        "library": subject.library,
        "params": sum(p.numel() for p in params),
        "saved_mib": saved / MIB,
        "graph_mib": None if graph is None else graph / MIB,
        "peak_mib": None if peak is None else peak / MIB,
        "seconds": seconds,
        "images_per_s": case["batch"] / seconds,
    }


def paired_speed(settings: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    """Speed of each ``train.memory`` mode relative to ``full`` on one spikeforge model of
    ``case`` (net, T, batch), the modes' training steps interleaved in this process:
    ``{"paired_vs_full": {mode: median over rounds of time(full) / time(mode)},
    "paired_seconds": {mode: median step time}}``, or ``{"unavailable": reason}``."""
    torch.set_num_threads(int(case.get("threads", 1)))
    torch.manual_seed(0)
    try:
        subject = build(case["net"], "spikeforge", settings["size"], "full")
        contexts = {mode: memory_context(subject.model, mode) for mode in MEMORY_MODES}
    except UnavailableError as exc:
        return {"unavailable": str(exc)}
    x, y = _batch(settings, case)
    model = subject.model
    model.train()

    def step(mode: str) -> float:
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        F.cross_entropy(subject.forward(x, contexts[mode]).mean(0), y).backward()
        return time.perf_counter() - start

    for mode in MEMORY_MODES:
        step(mode)  # warm-up of every mode
    times: dict[str, list[float]] = {mode: [] for mode in MEMORY_MODES}
    ratios: dict[str, list[float]] = {mode: [] for mode in MEMORY_MODES}
    for round_ in range(3 * int(settings["repeats"])):
        shift = round_ % len(MEMORY_MODES)  # who goes first rotates
        now = {m: step(m) for m in MEMORY_MODES[shift:] + MEMORY_MODES[:shift]}
        for mode in MEMORY_MODES:
            times[mode].append(now[mode])
            ratios[mode].append(now["full"] / now[mode])
    return {
        "paired_vs_full": {m: statistics.median(r) for m, r in ratios.items()},
        "paired_seconds": {m: statistics.median(t) for m, t in times.items()},
    }


def _fresh(
    settings: dict[str, Any],
    case: dict[str, Any],
    function: str = "measure_case",
    fixed_mmap: bool = True,
) -> dict[str, Any]:
    """``function`` of this module in a fresh process (:func:`~.rss.run_fresh`); a crash
    becomes ``{"failed": last line of its error}``."""
    return run_fresh(__name__, function, settings, case, fixed_mmap)


Runner = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


def _fresh_paired(settings: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    # glibc's allocator as a training run has it (the fixed mmap threshold of the memory
    # rows turns every large tensor into fresh pages, faulted in on first write, which
    # costs the modes that allocate in backward more than they cost in training)
    return _fresh(settings, case, "paired_speed", fixed_mmap=False)


def measure_rows(
    settings: dict[str, Any],
    threads: int = 1,
    nets: Sequence[str] = NETS,
    runner: Runner = _fresh,
    paired_runner: Runner | None = _fresh_paired,
) -> list[dict[str, Any]]:
    """Every case of :func:`cases` measured by ``runner`` (a fresh process each by default),
    plus, per net and T, the modes' interleaved speed (``paired_runner``; ``None``: not
    measured), then compared (:func:`compare`)."""
    rows = []
    paired: dict[tuple[str, int], dict[str, Any]] = {}
    for case in cases(settings, nets):
        case = {**case, "threads": threads}
        key = (case["net"], case["T"])
        if case["impl"] == "spikeforge" and paired_runner is not None and key not in paired:
            paired[key] = paired_runner(settings, case)
        row = {**case, **runner(settings, case)}
        if case["impl"] == "spikeforge" and "images_per_s" in row:
            row["paired_vs_full"] = (
                paired.get(key, {}).get("paired_vs_full", {}).get(case["memory"])
            )
        rows.append(row)
    return compare(rows)


# ----------------------------------------------------------------------- comparisons


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def compare(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adds to each spikeforge row, against the rows of the same net and T: ``vs_sj``
    (saved / SpikingJelly's), ``vs_relu`` (saved / the ReLU net's), ``speed_vs_full``
    (images/s / ``full``'s), and ``targets``: each of the issue's targets as ``True`` (met),
    ``False`` (not met) or ``None`` (a row it needs is missing; ``full``'s own speed)."""

    def find(row: dict[str, Any], impl: str, memory: str | None) -> dict[str, Any]:
        for other in rows:
            if (other["net"], other["T"], other["impl"], other["memory"]) == (
                row["net"], row["T"], impl, memory,
            ):  # fmt: skip
                return other
        return {}

    out = []
    for row in rows:
        row = dict(row)
        if row["impl"] == "spikeforge" and "saved_mib" in row:
            saved = row["saved_mib"]
            row["vs_sj"] = _ratio(saved, find(row, "spikingjelly", None).get("saved_mib"))
            row["vs_relu"] = _ratio(saved, find(row, "relu", None).get("saved_mib"))
            full = find(row, "spikeforge", "full").get("images_per_s")
            row["speed_vs_full"] = _ratio(row["images_per_s"], full)
            # judged on the interleaved measurement when there is one (see the docstring)
            speed = row.get("paired_vs_full") or row["speed_vs_full"]
            speed = speed if row["memory"] != "full" else None
            row["targets"] = {
                "saved <= 0.4x SpikingJelly": _at_most(row["vs_sj"], TARGET_VS_SPIKINGJELLY),
                "saved <= ReLU net": _at_most(row["vs_relu"], TARGET_VS_RELU),
                "images/s >= 95% of full": None if speed is None else speed >= TARGET_SPEED,
            }
        out.append(row)
    return out


def _at_most(value: float | None, bound: float) -> bool | None:
    return None if value is None else value <= bound


# ---------------------------------------------------------------------------- output


def _num(v: float | None, fmt: str = ".1f") -> str:
    return "-" if v is None else format(v, fmt)


def _mib(v: float | None) -> str:
    """MiB with one decimal, two below 10 (the ``--quick`` sizes)."""
    return _num(v, ".2f" if v is not None and abs(v) < 10 else ".1f")


def _label(row: dict[str, Any]) -> str:
    names = {"spikeforge": "spikeforge", "spikingjelly": "SpikingJelly", "snntorch": "snnTorch"}
    if row["impl"] == "relu":
        return "same net with ReLU (T·B images)"
    if row["impl"] == "spikeforge":
        return f"spikeforge train.memory={row['memory']}"
    return names[row["impl"]]


def _verdict(value: bool | None) -> str:
    return "-" if value is None else ("met" if value else "not met")


def markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    s = meta["settings"]
    lines = [
        "# Training memory of one step: spikeforge vs SpikingJelly, snnTorch and ReLU",
        "",
        f"Command: `{meta['command']}`; {meta['date']}; {meta['platform']}, "
        f"{meta['cpu_count']} CPUs, torch {meta['torch']}, {meta['threads']} thread(s); "
        f"{', '.join(meta['libraries']) or 'no peers'}; load average "
        f"{meta['load_average_start'][0]:.1f} at the start, {meta['load_average_end'][0]:.1f} "
        f"at the end. Input {s['size']}×{s['size']} RGB, float32; images/s over the median "
        f"of {s['repeats']} step(s) after a warm-up.",
        "",
        "| net | T | B | implementation | saved (MiB) | graph, RSS (MiB) | peak rise (MiB) "
        "| images/s | saved / SpikingJelly | saved / ReLU | images/s / full |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        head = f"| {r['net']} | {r['T']} | {r['batch']} | {_label(r)} "
        if "unavailable" in r or "failed" in r:
            what = "unavailable" if "unavailable" in r else "FAILED"
            reason = str(r.get("unavailable", r.get("failed"))).replace("|", "/")
            lines.append(head + f"| {what}: {reason} | | | | | | |")
            continue
        lines.append(
            head + f"| {_mib(r['saved_mib'])} | {_mib(r['graph_mib'])} | {_mib(r['peak_mib'])} "
            f"| {r['images_per_s']:.1f} | {_num(r.get('vs_sj'), '.2f')} "
            f"| {_num(r.get('vs_relu'), '.2f')} | {_num(r.get('speed_vs_full'), '.2f')} |"
        )
    lines += [
        "",
        "Saved: the distinct storages autograd keeps after the forward, counted in its "
        "saved-tensor hooks (inside a memory mode's own: what they pack), parameters "
        "excluded. Graph, RSS: how far the resident set falls when the forward's graph is "
        "dropped (no hooks; it also sees what a library keeps outside them, and not the "
        "input, which stays alive). Peak rise: the resident set's rise during the whole step. "
        "Same LIF everywhere (τ = 2, V_th = 1, hard reset to 0, decay-input charge, arctan "
        "α = 2; snnTorch's reset is always detached); SpikingJelly's SEW-ResNet-18 with the "
        "CIFAR stem in place of its ImageNet one; snnTorch's BN per time step, as its "
        "tutorials; the ReLU net on the T·B images at once "
        "(`spikeforge.bench.training_memory_nets`).",
        "",
        "The issue's targets (#22) for spikeforge's rows: computed from the table, not asserted "
        "(`-`: a row it needs is missing).",
        "",
        "Speed is judged on `paired`: the mode's images/s relative to `full`, the modes' steps "
        "interleaved on one model in one process (median of the per-round ratios over "
        f"{3 * s['repeats']} rounds; glibc's allocator as in a training run, not the memory "
        "rows' fixed mmap threshold); separate processes drift by 20–30 % on this machine.",
        "",
        "| net | T | train.memory | images/s / full, paired | saved ≤ 0.4× SpikingJelly "
        "| saved ≤ ReLU net | images/s ≥ 95 % of full |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if "targets" in r:
            verdicts = " | ".join(_verdict(v) for v in r["targets"].values())
            paired = _num(r.get("paired_vs_full"), ".2f")
            lines.append(f"| {r['net']} | {r['T']} | {r['memory']} | {paired} | {verdicts} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``spikeforge bench training_memory [--quick] [--threads K] [--repeats N]
    [--nets NAME ...] [--out DIR]``; status 1 when a row failed (all others still done)."""
    parser = argparse.ArgumentParser(
        prog=f"spikeforge bench {NAME}", description=(__doc__ or NAME).splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (smoke test)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, help="timed steps per row (default 5; quick 1)")
    parser.add_argument(
        "--nets", nargs="+", choices=NETS, default=list(NETS), help="which nets (default: both)"
    )
    parser.add_argument(
        "--out", metavar="DIR", help=f"write {NAME}.json/.md here (without it: print only)"
    )
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    torch.set_num_threads(args.threads)
    settings = dict(QUICK if args.quick else FULL)
    if args.repeats is not None:
        settings["repeats"] = args.repeats
    load_start = os.getloadavg()
    rows = measure_rows(settings, args.threads, args.nets)
    libraries = sorted({r["library"] for r in rows if r.get("library") not in (None, "torch")})
    meta = {
        "command": command(NAME, list(argv) if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "libraries": libraries,
        "threads": args.threads,
        "mmap_threshold": MMAP_THRESHOLD,
        "settings": settings,
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
    }
    result = {"meta": meta, "rows": rows}
    text = markdown(result)
    print(text, end="")
    if args.out:
        write_results(args.out, NAME, result, text)
    return 1 if any("failed" in r for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
