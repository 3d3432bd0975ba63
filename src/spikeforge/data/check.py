"""Read every sample of a dataset once, to find a bad file before training meets it.

``spikeforge data check NAME`` calls :func:`check_dataset`: it opens the dataset's
split(s) and decodes each sample (bypassing the in-memory cache), stopping at the first
failure, which is reported with the file it came from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from .._progress import progress
from .._validation import check_choice
from .datasets.base import LazyDataset
from .errors import DataFileError, describe
from .registry import SPLITS, load_dataset

CHECK_SPLITS = (*SPLITS, "all")

# Not a bad sample: the environment lacks something; raised as they are.
_NOT_SAMPLE_ERRORS = (ImportError, MemoryError)


@dataclass
class SplitCheck:
    """The outcome of checking one split.

    Attributes:
        split: ``"train"`` or ``"test"``.
        total: samples in the split (0 when it could not be opened).
        ok_samples: samples decoded without error.
        error: the first failure's message (it names the file), ``None`` when all are ok.
        index: the failing sample's index, ``None`` when opening the split failed.
        file: the failing file, when known.
    """

    split: str
    total: int = 0
    ok_samples: int = 0
    error: str | None = None
    index: int | None = None
    file: Path | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self, dataset: str) -> str:
        """``"mnist test: 10000 samples ok"`` or what failed, naming the file."""
        where = f"{dataset} {self.split}"
        if self.ok:
            return f"{where}: {self.total} sample{'' if self.total == 1 else 's'} ok"
        if self.index is None:
            return f"{where}: cannot open: {self.error}"
        return f"{where}: sample {self.index} of {self.total} is bad: {self.error}"


@dataclass
class DataCheckReport:
    """The outcome of :func:`check_dataset`: one :class:`SplitCheck` per checked split
    (checking stops at the first failure, so later splits may be absent)."""

    dataset: str
    splits: list[SplitCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.splits)

    @property
    def first_error(self) -> SplitCheck | None:
        return next((s for s in self.splits if not s.ok), None)

    def lines(self) -> list[str]:
        return [s.line(self.dataset) for s in self.splits]


def _failure(error: BaseException, fallback: Path | None) -> tuple[str, Path | None]:
    """The message and file of a failure (the file from the error when it knows it)."""
    if isinstance(error, DataFileError):
        return str(error), error.path or fallback
    filename = getattr(error, "filename", None)
    if isinstance(error, OSError) and filename is not None:
        return str(error), Path(os.fsdecode(filename))
    text = describe(error)
    return (f"{fallback}: {text}" if fallback is not None else text), fallback


def _read_sample(dataset: Dataset, index: int) -> Any:
    if isinstance(dataset, LazyDataset):
        return dataset.read(index)  # decoded, not cached: checking stays light on memory
    return dataset[index]


def check_split(
    name: str,
    split: str,
    data_dir: str | os.PathLike[str] | None = None,
    show_progress: bool = True,
    **options: Any,
) -> SplitCheck:
    """Open ``name``'s ``split`` and decode every sample once; stop at the first failure.

    A bad file found while opening (``DataFileError``) or while decoding a sample (any
    error but a missing optional package) is reported, not raised. A dataset whose files
    are not there raises :class:`~spikeforge.data.paths.DatasetNotFoundError`.
    """
    result = SplitCheck(split)
    try:
        dataset = load_dataset(name, split, None if data_dir is None else str(data_dir), **options)
    except DataFileError as error:
        result.error, result.file = str(error), error.path
        return result
    result.total = len(dataset)  # type: ignore[arg-type]
    files = list(getattr(dataset, "files", []) or [])
    bar = progress(
        range(result.total), f"check {name} {split}", unit="sample", enabled=show_progress
    )
    for index in bar:
        try:
            _read_sample(dataset, index)
        except _NOT_SAMPLE_ERRORS:
            raise
        except Exception as error:
            bar.close()
            fallback = Path(files[index]) if index < len(files) else None
            result.index = index
            result.error, result.file = _failure(error, fallback)
            return result
        result.ok_samples += 1
    return result


def check_dataset(
    name: str,
    split: str = "all",
    data_dir: str | os.PathLike[str] | None = None,
    show_progress: bool = True,
    **options: Any,
) -> DataCheckReport:
    """Check ``split`` (``"train"``, ``"test"`` or ``"all"``) of the dataset ``name``.

    Args:
        name: a registered dataset (``spikeforge list datasets``).
        split: the split to check; ``"all"`` checks train, then test.
        data_dir: the data folder (default: ``$SPIKEFORGE_DATA``, the shared folder).
        show_progress: a progress bar (or plain lines off a terminal) on stderr.
        **options: dataset options (``frames=``...), as for ``load_dataset``.

    Returns:
        The report: ``report.ok``, ``report.lines()`` and, on failure,
        ``report.first_error`` (its message names the bad file).
    """
    check_choice(split, "split", CHECK_SPLITS)
    report = DataCheckReport(name)
    for one in SPLITS if split == "all" else (split,):
        report.splits.append(check_split(name, one, data_dir, show_progress, **options))
        if not report.splits[-1].ok:
            break
    return report
