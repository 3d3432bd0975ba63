"""Where dataset files live.

Resolution order:

1. an explicit ``data_dir`` argument (then only that folder is searched);
2. the environment variable ``SPIKEFORGE_DATA``;
3. the shared data folder: the first ``shared/data`` found walking upward from the
   installed package and from the current directory (e.g. ``<repo>/../shared/data``).

Without an explicit ``data_dir`` both 2 and 3 are tried in that order and the first
folder holding *all* required files wins. Nothing is ever downloaded or written there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

ENV_VAR = "SPIKEFORGE_DATA"


class DatasetNotFoundError(FileNotFoundError):
    """Raised when a dataset's files are in none of the searched folders.

    The message names the files expected, every folder searched, and where to put them.
    """

    def __init__(
        self, dataset: str, expected: Sequence[str], searched: Sequence[Path], hint: str = ""
    ) -> None:
        self.dataset = dataset
        self.expected = list(expected)
        self.searched = [Path(p) for p in searched]
        own = [p for p in self.searched if p != find_shared_data()]
        if own:  # an explicit data_dir or $SPIKEFORGE_DATA: the user's own folder
            fix = f"put the files under {own[0]} (e.g. {own[0] / self.expected[0]})."
        else:  # the shared folder is read-only: point at a folder of the user's own
            fix = (
                f"put the files in a folder of your own (e.g. <folder>/{self.expected[0]}) "
                f"and pass data_dir=<folder> or set ${ENV_VAR}=<folder>."
            )
        lines = [
            f"dataset {dataset!r}: required files not found.",
            "expected (relative to a data folder): " + ", ".join(self.expected),
            "searched: " + (", ".join(str(p) for p in self.searched) or "(no data folder found)"),
            fix,
        ]
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


def _ancestors(start: Path) -> list[Path]:
    start = start.resolve()
    return [start, *start.parents]


def find_shared_data(starts: Sequence[Path] | None = None) -> Path | None:
    """Return the first ``shared/data`` folder above the package or the cwd, or ``None``.

    Args:
        starts: folders to walk upward from (default: this package's folder, then cwd).
    """
    if starts is None:
        starts = [Path(__file__).parent, Path.cwd()]
    for start in starts:
        for folder in _ancestors(Path(start)):
            candidate = folder / "shared" / "data"
            if candidate.is_dir():
                return candidate
    return None


def search_roots(data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Data folders to search, highest precedence first (see the module docstring)."""
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    roots: list[Path] = []
    env = os.environ.get(ENV_VAR)
    if env:
        roots.append(Path(env).expanduser())
    shared = find_shared_data()
    if shared is not None and shared not in roots:
        roots.append(shared)
    return roots


def locate(
    dataset: str,
    required: Sequence[str],
    data_dir: str | os.PathLike[str] | None = None,
    hint: str = "",
) -> Path:
    """Return the first data folder holding every path in ``required``.

    Args:
        dataset: dataset name for the error message.
        required: files or folders relative to the data folder
            (``["mnist/t10k-images-idx3-ubyte.gz", ...]``).
        data_dir: explicit folder (only it is searched), else the default search.
        hint: extra line for the error (where to download the files, ...).

    Raises:
        DatasetNotFoundError: when no searched folder holds all of ``required``.
    """
    roots = search_roots(data_dir)
    for root in roots:
        if all((root / rel).exists() for rel in required):
            return root
    raise DatasetNotFoundError(dataset, required, roots, hint)


def locate_any(
    dataset: str,
    alternatives: Sequence[Sequence[str]],
    data_dir: str | os.PathLike[str] | None = None,
    hint: str = "",
) -> tuple[Path, int]:
    """Like :func:`locate` with several acceptable file sets (e.g. ``.gz`` or raw).

    Returns:
        ``(root, k)``: the folder and the index of the first alternative found there.
    """
    roots = search_roots(data_dir)
    for root in roots:
        for k, required in enumerate(alternatives):
            if all((root / rel).exists() for rel in required):
                return root, k
    raise DatasetNotFoundError(dataset, alternatives[0], roots, hint)
