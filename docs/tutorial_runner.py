"""Run a jupytext percent-format script cell by cell and render it as a Markdown page.

A tutorial is a plain Python file: ``# %%`` starts a code cell, ``# %% [markdown]`` a
Markdown cell whose lines are comments (``# text``). Jupyter opens it through jupytext;
``python docs/tutorials/x.py`` runs it as a script. The docs build runs each one in a
fresh process (:func:`execute`), so one tutorial's seeds, threads and imports never leak
into the next, and renders the page from what that process recorded (:func:`render`):
each code cell, what it printed, and the matplotlib figures it left open (PNG, embedded
in the page, so the site needs no network). A tutorial that raises — its ``assert``
included — fails the build with its traceback.

Command line (the build's child process, also handy alone)::

    python docs/tutorial_runner.py docs/tutorials/neurons.py [--json OUT.json]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import redirect_stdout
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Cell:
    """One cell: ``kind`` is "code" or "markdown"; ``source`` without the ``# %%`` line
    (a Markdown cell's ``# `` prefixes removed)."""

    kind: str
    source: str
    stdout: str = ""
    images: list[str] = field(default_factory=list)  # base64 PNGs


def parse_cells(text: str) -> list[Cell]:
    """Split percent-format source into cells; the text before the first ``# %%`` is a
    code cell when it holds anything but blank lines (a header docstring, say)."""
    cells: list[Cell] = []
    kind, lines = "code", []

    def close() -> None:
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(_uncomment(line) for line in body.splitlines())
        if body.strip():
            cells.append(Cell(kind, body))

    for line in text.splitlines():
        if line.startswith("# %%"):
            close()
            kind = "markdown" if "[markdown]" in line else "code"
            lines = []
        else:
            lines.append(line)
    close()
    return cells


def _uncomment(line: str) -> str:
    if line.startswith("# "):
        return line[2:]
    return "" if line.strip() == "#" else line


def _figures() -> list[str]:
    """The open matplotlib figures as base64 PNGs, closed afterwards."""
    if "matplotlib.pyplot" not in sys.modules:
        return []
    import matplotlib.pyplot as plt

    images = []
    for number in plt.get_fignums():
        buffer = io.BytesIO()
        plt.figure(number).savefig(buffer, format="png", dpi=80, bbox_inches="tight")
        images.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    plt.close("all")
    return images


def run_cells(path: Path) -> list[Cell]:
    """Execute ``path``'s code cells in order in one namespace, in this process,
    recording each cell's stdout and figures. Raises whatever a cell raises."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    cells = parse_cells(path.read_text(encoding="utf-8"))
    namespace: dict = {"__name__": "__main__", "__file__": str(path)}
    for index, cell in enumerate(cells):
        if cell.kind != "code":
            continue
        out = io.StringIO()
        code = compile(cell.source, f"{path.name} (cell {index})", "exec")
        with redirect_stdout(out):
            exec(code, namespace)
        cell.stdout = out.getvalue()
        cell.images = _figures()
    return cells


class TutorialError(RuntimeError):
    """A tutorial raised (or its process died); the message holds its traceback."""


def execute(path: Path, timeout: float = 600.0) -> tuple[list[Cell], float]:
    """Run ``path`` in a fresh Python process (working directory: a temporary folder, so
    its runs are thrown away); returns its cells and the wall time in seconds."""
    with tempfile.TemporaryDirectory(prefix="sf-tutorial-") as tmp:
        out = Path(tmp) / "cells.json"
        env = {**os.environ, "MPLBACKEND": "Agg"}
        start = time.perf_counter()
        command = [sys.executable, str(Path(__file__).resolve()), str(path.resolve())]
        done = subprocess.run(
            [*command, "--json", str(out)],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise TutorialError(f"{path.name} failed:\n{done.stderr[-4000:]}")
        cells = [Cell(**c) for c in json.loads(out.read_text())]
    return cells, seconds


def render(
    cells: list[Cell], source_name: str, seconds: float | None, folder: str = "tutorials"
) -> str:
    """Markdown of executed cells: code blocks, their printed output, their figures;
    ``source_name`` is the script's file name, beside the page in ``docs/<folder>/``."""
    parts = []
    for cell in cells:
        if cell.kind == "markdown":
            parts.append(cell.source)
            continue
        parts.append(f"```python\n{cell.source}\n```")
        if cell.stdout.strip():
            parts.append(f"```text\n{cell.stdout.rstrip()}\n```")
        for image in cell.images:
            parts.append(f'<img alt="figure" src="data:image/png;base64,{image}">')
    if seconds is not None:
        note = f"executed when the docs were built, in {seconds:.0f} s"
    else:
        note = "**not executed in this build** (`SPIKEFORGE_DOCS_TUTORIALS=skip`)"
    parts.append(
        f"---\n\n*This page is [`{source_name}`]({source_name}), {note}. Run it yourself"
        f" with `python docs/{folder}/{source_name}` or open it in Jupyter via jupytext.*"
    )
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run one tutorial here; ``--json`` writes its cells (the build reads them)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--json", type=Path, help="write the executed cells here")
    args = parser.parse_args(argv)
    try:
        cells = run_cells(args.path)
    except Exception:
        traceback.print_exc()
        return 1
    if args.json:
        args.json.write_text(json.dumps([asdict(c) for c in cells]))
    else:
        for cell in cells:
            sys.stdout.write(cell.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
