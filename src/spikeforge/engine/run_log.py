"""Per-epoch metric logs in the run directory: ``metrics.jsonl`` and ``metrics.csv``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


class RunLog:
    """Appends one record per epoch; on resume, rewrites the files to the kept history.

    With ``tensorboard=True`` and the ``tensorboard`` package installed, the numeric
    metrics also go to ``RUN_DIR/tensorboard`` (scalars keyed by name, step = epoch).
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
        self.csv.unlink(missing_ok=True)
        for record in history:
            self._append_csv(record)

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
        flat = {k: v for k, v in record.items() if not isinstance(v, dict)}
        new = not self.csv.exists()
        with self.csv.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(flat))
            if new:
                writer.writeheader()
            writer.writerow(flat)
