"""Checkpoints that are written atomically and load without executing code.

Writing goes to a temporary file in the same folder, is flushed to disk, then renamed
over the target (``os.replace`` is atomic on POSIX): an interrupted save leaves the
previous checkpoint intact. Loading uses ``torch.load(weights_only=True)``, which
unpickles only tensors and plain containers, so a checkpoint file cannot run code.

Every failure is a :class:`CheckpointError` (a ``ValueError``) naming the file and what
is wrong with it: missing, empty, corrupt, not a spikeforge checkpoint, or lacking an
entry a caller needs (``require=``: by default the ``config`` and ``model`` of a run
checkpoint, :data:`RESUME_ENTRIES` for continuing a run).
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, or does not fit the model."""


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Atomically write ``payload`` (tensors, numbers, strings, nested dicts/lists).

    A full disk raises :class:`CheckpointError` saying so (the previous file is intact)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # serialised in memory first: torch's zip writer reports a full disk as a vague
        # RuntimeError, a plain write of the bytes raises OSError(ENOSPC)
        buffer = io.BytesIO()
        torch.save({"format_version": FORMAT_VERSION, **payload}, buffer)
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            kept = "the previous checkpoint is kept" if path.is_file() else "nothing was saved"
            raise CheckpointError(
                f"no space left on the device writing checkpoint {str(path)!r} ({kept}); "
                "free space, then resume"
            ) from None
        raise
    return path


RUN_ENTRIES = ("config", "model")
"""Entries every run checkpoint (written by :meth:`Trainer.save`) holds."""
RESUME_ENTRIES = (
    *RUN_ENTRIES, "method", "optimizer", "schedule", "position", "history",
    "best_accuracy", "epochs_without_improvement", "torch_rng",
)  # fmt: skip
"""Entries :meth:`Trainer.restore` needs to continue a run."""


def _first_line(error: BaseException) -> str:
    """``"TypeName: first non-empty line of the message"`` (just the type if it has none)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    name = type(error).__name__
    return f"{name}: {lines[0][:200]}" if lines else name


def load_checkpoint(path: str | Path, require: Sequence[str] = RUN_ENTRIES) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (no code execution).

    Args:
        path: the checkpoint file.
        require: entries the payload must hold; the default is a run checkpoint's
            ``config`` and ``model``. ``()`` accepts any payload.

    Returns:
        The payload, a plain ``dict`` (so it can be changed and saved again).

    Raises:
        CheckpointError: the file is missing, empty, corrupt, not a spikeforge
            checkpoint, or lacks an entry of ``require``; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is empty (0 bytes): an interrupted copy or download?"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for truncated/garbage files
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt or not a spikeforge checkpoint "
            f"({_first_line(error)})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has no spikeforge format_version {FORMAT_VERSION}"
        )
    missing = [key for key in require if key not in payload]
    if missing:
        raise CheckpointError(
            f"checkpoint {str(path)!r} lacks the {', '.join(map(repr, missing))} "
            f"{'entry' if len(missing) == 1 else 'entries'} (it holds "
            f"{sorted(map(str, payload))}); is it a spikeforge run checkpoint?"
        )
    return payload


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """``model.load_state_dict`` with an error that names missing/unexpected/misshapen keys
    or entries holding NaN/inf."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    misshapen = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if state[k].shape != own[k].shape
    ]
    if missing or unexpected or misshapen:
        raise CheckpointError(
            f"checkpoint {source!r} does not fit the model: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, shape mismatches {misshapen[:5]}"
        )
    # Training stops at a non-finite loss before saving, so NaN/inf weights mean a damaged
    # or hand-edited file: refuse it here rather than evaluate it to "accuracy 0.1".
    broken = [
        k
        for k, v in state.items()
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(v.isfinite().all())
    ]
    if broken:
        raise CheckpointError(
            f"checkpoint {source!r} holds non-finite values (NaN or inf) in {broken[:5]}"
            + (f" and {len(broken) - 5} more" if len(broken) > 5 else "")
        )
    model.load_state_dict(state)
