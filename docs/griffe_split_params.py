"""Griffe extension (``mkdocs.yml``): split ``a, b: text`` parameter entries before the
API pages are rendered (see :func:`docgen.split_grouped_params`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import griffe

sys.path.insert(0, str(Path(__file__).resolve().parent))

from docgen import split_grouped_params


class SplitGroupedParams(griffe.Extension):
    """Rewrite each docstring's grouped ``Args:`` entries as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = split_grouped_params(obj.docstring.value)
