"""MkDocs hook (``hooks:`` in ``mkdocs.yml``): adds the pages generated from the code.

API reference (``api/``), config and CLI reference (``reference/``), benchmark results
(``results/``), and every tutorial and guide executed (``tutorials/``, ``guides/``).
Problems are logged as warnings, which ``mkdocs build --strict`` turns into a failed
build: a public name without a docstring, a config key without a meaning, a stale note.
A tutorial that raises stops the build at once with its traceback.

``SPIKEFORGE_DOCS_TUTORIALS=skip`` renders the tutorials without running them (quick
local previews only; ``make docs`` always runs them).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import docgen  # noqa: E402  (a sibling module: found through the path set just above)
import tutorial_runner  # noqa: E402
from config_notes import NOTES  # noqa: E402

log = logging.getLogger("mkdocs.hooks.spikeforge")

#: Executed pages: folder of the scripts (under docs/) -> their pages' folder.
EXECUTED = ("tutorials", "guides")


def _add(files: Files, config, uri: str, content: str | bytes) -> None:
    files.append(File.generated(config, uri, content=content))


def _check_sources() -> None:
    for sub in docgen.api_subpackages():
        for name in docgen.missing_docstrings(importlib.import_module(f"spikeforge.{sub}")):
            log.warning(f"public name without a docstring: {name}")
    keys = {k.key: k for k in docgen.config_keys(NOTES)}
    for key, k in keys.items():
        if not k.meaning:
            log.warning(f"config key {key} has no meaning: comment its field or add a note")
    for key in sorted(set(NOTES) - set(keys)):
        log.warning(f"docs/config_notes.py names {key}, which is no config key")


def _executed_pages(files: Files, config) -> None:
    skip = os.environ.get("SPIKEFORGE_DOCS_TUTORIALS") == "skip"
    for folder in EXECUTED:
        for path in sorted((HERE / folder).glob("*.py")):
            if skip:
                cells = tutorial_runner.parse_cells(path.read_text(encoding="utf-8"))
                seconds = None
            else:
                start = time.perf_counter()
                try:
                    cells, seconds = tutorial_runner.execute(path)
                except tutorial_runner.TutorialError as error:
                    raise PluginError(str(error)) from None
                log.info(f"ran {folder}/{path.name} in {time.perf_counter() - start:.1f} s")
            page = tutorial_runner.render(cells, path.name, seconds, folder)
            _add(files, config, f"{folder}/{path.stem}.md", page)


def _api_nav(entries: list) -> bool:
    """Fill the nav's ``API`` entry (wherever it sits) with one page per subpackage."""
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        for title, value in entry.items():
            if title == "API":
                pages = [{f"spikeforge.{s}": f"api/{s}.md"} for s in docgen.api_subpackages()]
                entry[title] = ["api/index.md", *pages]
                return True
            if isinstance(value, list) and _api_nav(value):
                return True
    return False


def on_config(config):
    """The API section of the nav lists every subpackage, new ones included."""
    if not _api_nav(config["nav"] or []):
        log.warning("mkdocs.yml's nav has no 'API' entry for the API reference")
    return config


def on_files(files: Files, config) -> Files:
    """Add every generated page before MkDocs builds the navigation."""
    _check_sources()
    _add(files, config, "api/index.md", docgen.api_index())
    for sub in docgen.api_subpackages():
        _add(files, config, f"api/{sub}.md", docgen.api_page(sub))
    _add(files, config, "reference/config.md", docgen.config_page(NOTES))
    _add(files, config, "reference/cli.md", docgen.cli_page())
    pages = docgen.results_pages()
    _add(files, config, "results/index.md", docgen.results_index(pages))
    for stem, text in pages.items():
        _add(files, config, f"results/{stem}.md", text)
    for svg in sorted(docgen.RESULTS.glob("*.svg")):
        _add(files, config, f"results/{svg.name}", svg.read_bytes())
    _executed_pages(files, config)
    return files
