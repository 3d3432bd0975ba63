"""Per-epoch metric logs in the run directory: ``metrics.jsonl`` and ``metrics.csv``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


class RunLog:
    """Appends one record per epoch; on resume, rewrites the files to the kept history.

    With ``tensorboard=True`` and the ``tensorboard`` package installed, the numeric
    metrics also go to ``RUN_DIR/tensorboard`` (scalars keyed by name, step = epoch, e.g.
    ``train_loss``, ``test_loss``, ``test_acc``).

    The CSV's columns are the union of the records' flat keys, in first-seen order: when
    a record brings a new key (a run resumed from a checkpoint written before that key
    was logged), the file is rewritten with the new column rather than misaligned.
    """

    def __init__(self, run_dir: Path, tensorboard: bool = False) -> None:
        self.jsonl = run_dir / "metrics.jsonl"
        self.csv = run_dir / "metrics.csv"
        self.run_dir = run_dir
        self.tensorboard = tensorboard
        self._writer = None

    def _tensorboard(self):  # SummaryWriter when available, else None
        if self.tensorboard and self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # optional: tensorboard not installed
                self.tensorboard = False
                return None
            self._writer = SummaryWriter(str(self.run_dir / "tensorboard"))
        return self._writer

    def rewrite(self, history: list[dict[str, Any]]) -> None:
        """Make the files hold exactly ``history`` (drops records after a checkpoint)."""
        self.jsonl.write_text("".join(json.dumps(r) + "\n" for r in history))
        self._write_csv(history)

    def append(self, record: dict[str, Any]) -> None:
        with self.jsonl.open("a") as f:
            f.write(json.dumps(record) + "\n")
        self._append_csv(record)
        writer = self._tensorboard()
        if writer is not None:
            for key, value in record.items():
                if isinstance(value, int | float) and key != "epoch":
                    writer.add_scalar(key, value, record["epoch"])
                elif isinstance(value, dict):
                    for sub, v in value.items():
                        writer.add_scalar(f"{key}/{sub}", v, record["epoch"])
            writer.flush()

    def _append_csv(self, record: dict[str, Any]) -> None:
        flat = _flat(record)
        header = self._csv_header()
        if header is None:
            self._write_csv([record])
        elif set(flat) <= set(header):
            with self.csv.open("a", newline="") as f:
                csv.DictWriter(f, fieldnames=header, restval="").writerow(flat)
        else:  # a new column: rewrite from metrics.jsonl, which already holds ``record``
            lines = self.jsonl.read_text().splitlines()
            self._write_csv([json.loads(line) for line in lines if line.strip()])

    def _csv_header(self) -> list[str] | None:
        if not self.csv.exists():
            return None
        with self.csv.open(newline="") as f:
            return next(csv.reader(f), None)

    def _write_csv(self, records: list[dict[str, Any]]) -> None:
        rows = [_flat(r) for r in records]
        fields = list(dict.fromkeys(k for row in rows for k in row))
        if not rows:
            self.csv.unlink(missing_ok=True)
            return
        with self.csv.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields, restval="")
            writer.writeheader()
            writer.writerows(rows)


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    """The CSV's part of a record: everything but nested dicts (e.g. firing rates)."""
    return {k: v for k, v in record.items() if not isinstance(v, dict)}
