"""Optional third-party imports with an error that says what to install."""

from __future__ import annotations

import importlib
from types import ModuleType


def optional_import(module: str, feature: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise an ``ImportError`` naming the pip package to install.

    Args:
        module: module to import (``"PIL.Image"``, ``"h5py"``, ...).
        feature: what needs it, for the message (``"reading CIFAR-10 JPEGs"``).
        package: the pip package name when it differs from the module's top level.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pip_name = package or module.split(".")[0]
        raise ImportError(
            f"{feature} needs the optional package {pip_name!r}, which is not installed; "
            f"install it with `pip install {pip_name}` (or `pip install 'spikeforge[data]'`)"
        ) from exc
