"""Result tables every pipeline shares: seeds summarised as mean ± std, Markdown tables,
and the ``results.json`` / ``results.md`` / ``report.html`` triple of a finished run."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..analysis import write_report
from .runner import write_json


def mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation of the values that are not ``None``
    (``(None, None)`` if none are; std ``0.0`` for one value)."""
    present = [v for v in values if v is not None]
    if not present:
        return None, None
    std = statistics.stdev(present) if len(present) > 1 else 0.0
    return statistics.fmean(present), std


def seed_row(label: str, results: Sequence[Mapping[str, Any]], **extra: Any) -> dict[str, Any]:
    """One table row from the per-seed results of a stage (accuracy, firing rate, energy
    and training wall seconds as means; the accuracy's std over seeds and every seed's
    accuracy kept)."""
    accuracy, accuracy_std = mean_std([r["accuracy"] for r in results])
    return {
        "row": label,
        "T": results[0].get("T"),
        "accuracy": accuracy,
        "accuracy_std": accuracy_std,
        "firing_rate": mean_std([r.get("firing_rate") for r in results])[0],
        "energy_uj": mean_std([r.get("energy_uj") for r in results])[0],
        "train_seconds": mean_std([r.get("train_seconds") for r in results])[0],
        "seeds": len(results),
        "accuracies": [r["accuracy"] for r in results],
        **extra,
    }


def fmt(value: Any, digits: int = 4) -> str:
    """A table cell: ``-`` for missing/NaN, fixed decimals for floats."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def accuracy_cell(row: Mapping[str, Any]) -> str:
    """``0.9694 ± 0.0016`` over several seeds, ``0.9694`` for one."""
    text = fmt(row["accuracy"])
    if row.get("accuracy_std") is not None and row.get("seeds", 1) > 1:
        text += f" ± {row['accuracy_std']:.4f}"
    return text


def against_spread(margin: float, spread: float) -> str:
    """Where a difference of means stands against the seeds' spread (the sum of the two
    rows' standard deviations): ``"beyond"`` it above, ``"within"`` it, or ``"below by
    more than"`` it — a row that trails by more than the spread is not "within" it."""
    if margin > spread:
        return "beyond"
    return "below by more than" if margin < -spread else "within"


def markdown(header: Sequence[str], lines: Sequence[Sequence[str]], numeric_from: int = 2) -> str:
    """A Markdown table; columns from ``numeric_from`` on are right-aligned."""
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    rows = [header, align, *lines]
    return "\n".join("| " + " | ".join(str(c) for c in row) + " |" for row in rows)


def write_outputs(
    run_dir: Path, result: Mapping[str, Any], table: str, report: Mapping[str, Any]
) -> None:
    """``results.json`` (atomically), ``results.md`` and the HTML ``report.html``; a
    ``"partial"`` result (``report_only``) says so at the top of both."""
    missing = list(result.get("missing") or [])
    if result.get("status") == "partial":
        shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
        note = f"Partial: {len(missing)} stage(s) not finished yet and left out ({shown})."
        table = f"{note}\n\n{table}"
        meta = {**report.get("meta", {}), "not finished yet": f"{len(missing)} stage(s)"}
        report = {**report, "title": f"{report['title']} (partial)", "meta": meta}
    write_json(run_dir / "results.json", dict(result))
    (run_dir / "results.md").write_text(table + "\n")
    write_report(run_dir / "report.html", report)
