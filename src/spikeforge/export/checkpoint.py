"""``spikeforge export``: a trained run's checkpoint to a NIR file."""

from __future__ import annotations

from pathlib import Path

from ..engine.inspect import test_batch, trainer_from_checkpoint
from .nir_graph import check_dt, require_nir, to_nir

#: Formats ``spikeforge export --format`` writes.
EXPORT_FORMATS = ("nir",)


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    format: str = "nir",
    dt: float = 1.0,
    approximate: bool = False,
) -> tuple[Path, tuple[int, ...]]:
    """Rebuild the run's model from ``checkpoint`` (its config and weights) and write it.

    The input shape is read off one encoded test sample of the run's own data pipeline
    (``[T, 1, ...]`` -> ``...``), so it is the shape the model was trained on.

    Args:
        checkpoint: a run checkpoint (``runs/<run>/best.pt`` or ``last.pt``).
        out: the file to write (``.nir``, HDF5).
        format: ``"nir"``.
        dt, approximate: as :func:`~spikeforge.export.to_nir`.

    Returns:
        ``(out, input_shape)``.
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
    nir = require_nir()
    dt = check_dt(dt)
    trainer = trainer_from_checkpoint(checkpoint)
    shape = tuple(int(s) for s in test_batch(trainer, 1).shape[2:])
    graph = to_nir(trainer.model, shape, dt=dt, approximate=approximate)
    out = Path(out)
    if out.parent and not out.parent.is_dir():
        raise FileNotFoundError(f"the folder of {str(out)!r} does not exist")
    nir.write(out, graph)
    return out, shape
