"""Where the training benchmarks write their JSON and Markdown, and the command they record.

By default a benchmark writes to ``runs/bench/NAME`` (a scratch folder), so running one
never overwrites the committed results in ``benchmarks/results/``; updating those takes
the explicit ``--out benchmarks/results`` (from the repository root). The command line
recorded in a result is ``spikeforge bench NAME ...`` with the options it was given.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

SCRATCH = Path("runs") / "bench"
COMMITTED = Path("benchmarks") / "results"


def make_parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of ``spikeforge bench NAME``: the module docstring's first line as the
    description and ``--out`` (see :func:`add_out`)."""
    first = (doc or name).strip().splitlines()[0]
    parser = argparse.ArgumentParser(prog=f"spikeforge bench {name}", description=first)
    add_out(parser, name)
    return parser


def add_out(parser: argparse.ArgumentParser, name: str) -> None:
    """``--out DIR``, by default ``runs/bench/NAME``."""
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=str(SCRATCH / name),
        help=f"folder for the JSON and Markdown results (default: {SCRATCH / name}); "
        f"'--out {COMMITTED}' from the repository root replaces the committed ones",
    )


def arguments(argv: Sequence[str] | None) -> list[str]:
    """The options a benchmark was given (``argv``, or the process's when ``None``)."""
    return list(sys.argv[1:] if argv is None else argv)


def out_dir(path: str | Path) -> Path:
    """``path``, created if needed."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def command(name: str, argv: Sequence[str]) -> str:
    """``spikeforge bench NAME ARGS...`` as a shell would take it."""
    return shlex.join(["spikeforge", "bench", name, *argv])


def write_results(out: str | Path, name: str, result: Any, text: str) -> None:
    """``result`` as ``OUT/NAME.json`` and the Markdown ``text`` as ``OUT/NAME.md`` (the
    folder created if needed), then says so on stdout."""
    folder = out_dir(out)
    (folder / f"{name}.json").write_text(json.dumps(result, indent=2))
    (folder / f"{name}.md").write_text(text)
    print(f"wrote {folder / name}.json and .md")


def cpu_parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of a CPU benchmark run in fresh processes: ``--quick`` (tiny sizes, a
    smoke test), ``--threads K`` (torch threads, default 1; checked by
    :func:`check_threads`) and ``--out DIR`` (no default: print only)."""
    first = (doc or name).strip().splitlines()[0]
    parser = argparse.ArgumentParser(prog=f"spikeforge bench {name}", description=first)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (smoke test)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--out", metavar="DIR", help=f"write {name}.json/.md here (without it: print only)"
    )
    return parser


def check_threads(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")


def machine_meta(
    name: str,
    argv: Sequence[str] | None,
    threads: int,
    settings: Any,
    load_start: tuple[float, float, float],
) -> dict[str, Any]:
    """What a result records of its run: the command, date, machine, torch, threads, the
    settings and the load average at its start and now (its end)."""
    import os
    import platform
    import time

    import torch

    return {
        "command": command(name, arguments(argv)),  # with --out: the command that wrote it
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "threads": threads,
        "settings": settings,
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
    }


def show(out: str | Path | None, name: str, result: Any, text: str) -> None:
    """Print ``text``; with ``out``, also write the result files (:func:`write_results`)."""
    print(text, end="")
    if out:
        write_results(out, name, result, text)


def machine_line(meta: dict[str, Any]) -> str:
    """One sentence of :func:`machine_meta`'s record: command, date, machine, load."""
    return (
        f"Command: `{meta['command']}`; {meta['date']}; {meta['platform']}, "
        f"{meta['cpu_count']} CPUs, torch {meta['torch']}, {meta['threads']} thread(s); load "
        f"average {meta['load_average_start'][0]:.2f} at the start, "
        f"{meta['load_average_end'][0]:.2f} at the end."
    )


def run_cpu_benchmark(
    name: str,
    doc: str | None,
    argv: Sequence[str] | None,
    sizes: tuple[dict[str, Any], dict[str, Any]],
    measure: Callable[[dict[str, Any], int], Any],
    markdown: Callable[[dict[str, Any]], str],
) -> int:
    """The ``main`` of a CPU benchmark whose result is ``{"meta", "rows"}``: parse
    :func:`cpu_parser`'s options, ``rows = measure(settings, threads)`` with the full or
    (``--quick``) quick ``sizes``, then print ``markdown(result)`` and, with ``--out``,
    write the files."""
    import os

    parser = cpu_parser(name, doc)
    args = parser.parse_args(argv)
    check_threads(parser, args)
    settings = sizes[1] if args.quick else sizes[0]
    load_start = os.getloadavg()
    rows = measure(settings, args.threads)
    result = {"meta": machine_meta(name, argv, args.threads, settings, load_start), "rows": rows}
    show(args.out, name, result, markdown(result))
    return 0
