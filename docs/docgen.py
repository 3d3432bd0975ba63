"""Pages of the docs site generated from the code at build time, and the checks on them.

Used by ``docs/hooks.py`` (the MkDocs hook of ``mkdocs.yml``) and by
``tests/test_docs.py``; nothing here needs MkDocs, so the tests stay fast.

- API reference: one page per public subpackage, one ``::: spikeforge.sub.Name`` block
  per public name (:func:`public_names`), rendered by mkdocstrings from the docstrings.
- Config reference: every key of the engine's :class:`~spikeforge.engine.config.Config`
  with its type, default, limits and meaning, read from the dataclasses and the comments
  beside their fields in ``engine/config.py`` (:func:`config_keys`).
- CLI reference: the ``--help`` of every ``spikeforge`` command and the registries that
  ``spikeforge list`` prints.
- Results: ``benchmarks/results/*.md`` as pages, with the plot of the same name.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import inspect
import io
import os
import re
import types
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"

#: The order of the API pages; a package not listed here (a new one) is appended by
#: :func:`api_subpackages`, so it gets its page without an edit here.
SUBPACKAGES = (
    "neurons",
    "functional",
    "surrogates",
    "encoding",
    "losses",
    "layers",
    "models",
    "methods",
    "analysis",
    "data",
    "engine",
    "pipelines",
    "kernels",
    "bench",
)
#: Top-level modules that are entry points, not library API (documented in the CLI page).
NOT_API = ("demo", "cli")


def api_subpackages() -> list[str]:
    """Every public top-level package or module of ``spikeforge`` (``SUBPACKAGES``'s
    order first, then any other in name order), except the entry points ``NOT_API``."""
    import pkgutil

    import spikeforge

    found = {
        m.name
        for m in pkgutil.iter_modules(spikeforge.__path__)
        if not m.name.startswith("_") and m.name not in NOT_API
    }
    return [s for s in SUBPACKAGES if s in found] + sorted(found - set(SUBPACKAGES))


# -- public names ----------------------------------------------------------------------
def public_names(module: types.ModuleType) -> list[str]:
    """The public names of ``module``: its ``__all__`` when it has one; otherwise what its
    source explicitly exports — ``from x import a as a`` / ``from . import m as m`` (the
    re-export idiom every ``__init__`` here uses) and the classes, functions and
    UPPER_CASE constants it defines itself. Plain imports (``from typing import Any``)
    are not public. Names starting with ``_`` never are."""
    explicit = getattr(module, "__all__", None)
    if explicit is not None:
        return sorted(explicit)
    source = inspect.getsource(module)
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom | ast.Import):
            names.update(a.asname for a in node.names if a.asname and a.asname == a.name)
        elif isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper())
    return sorted(n for n in names if not n.startswith("_"))


def missing_docstrings(module: types.ModuleType) -> list[str]:
    """Public classes, functions and modules of ``module`` without a docstring of their
    own (constants and registries carry none and are not counted)."""
    missing = []
    for name in public_names(module):
        obj = getattr(module, name)
        documentable = inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj)
        if documentable and not (obj.__doc__ or "").strip():
            missing.append(f"{module.__name__}.{name}")
    return missing


def _first_paragraph(doc: str | None) -> str:
    text = inspect.cleandoc(doc or "")
    return text.split("\n\n", 1)[0].replace("\n", " ")


def api_page(sub: str) -> str:
    """The API page of ``spikeforge.<sub>``: the package docstring, then one
    mkdocstrings block per public name (mkdocstrings fails the strict build when a name
    does not resolve)."""
    module = importlib.import_module(f"spikeforge.{sub}")
    lines = [f"# `spikeforge.{sub}`", "", "::: spikeforge." + sub, "    options:"]
    lines += ["      members: false", "      show_root_heading: false", ""]
    names = public_names(module)
    if not names:
        lines += ["This package has no public Python names: it is used through the CLI."]
    for name in names:
        lines += [f"::: spikeforge.{sub}.{name}", "    options:", "      heading_level: 2", ""]
    return "\n".join(lines) + "\n"


def api_index() -> str:
    """The API overview: one line per subpackage, its docstring's first paragraph."""
    lines = ["# API reference", "", "Generated from the docstrings; one page per subpackage.", ""]
    lines += ["| package | what it holds |", "|---|---|"]
    for sub in api_subpackages():
        module = importlib.import_module(f"spikeforge.{sub}")
        summary = _first_paragraph(module.__doc__).replace("|", "\\|")
        lines.append(f"| [`spikeforge.{sub}`]({sub}.md) | {summary} |")
    return "\n".join(lines) + "\n"


def documented_names(page: str) -> set[str]:
    """The dotted names a page documents with ``::: name`` blocks."""
    return {line[4:].strip() for line in page.splitlines() if line.startswith("::: ")}


_ARGS_HEADER = re.compile(r"^(\s*)(Args|Arguments|Parameters):\s*$")
_GROUPED = re.compile(r"^(\s+)([A-Za-z_]\w*(?:,\s*[A-Za-z_]\w*)+):\s*(.*)$")


def split_grouped_params(doc: str) -> str:
    """``a, b: text`` in a Google-style ``Args:`` section -> one entry per name.

    The docstrings here group parameters that share a description; Google style (and
    griffe, which renders the API pages) reads one name per entry, so griffe would warn
    that ``a, b`` is no parameter and ``mkdocs --strict`` would fail. Each name gets the
    entry's first line; continuation lines stay with the last name.
    """
    out, section = [], None  # section: the Args header's indentation while inside one
    for line in doc.splitlines():
        header = _ARGS_HEADER.match(line)
        if header:
            section = len(header.group(1))
        elif section is not None and line.strip() and len(line) - len(line.lstrip()) <= section:
            section = None
        grouped = _GROUPED.match(line) if section is not None else None
        if grouped:
            indent, names, text = grouped.groups()
            out += [f"{indent}{name.strip()}: {text}" for name in names.split(",")]
        else:
            out.append(line)
    return "\n".join(out)


# -- config reference ------------------------------------------------------------------
@dataclass(frozen=True)
class ConfigKey:
    """One key of the engine config, as the reference shows it."""

    key: str  # dotted: "train.epochs"
    type: str  # the annotation as written: "int | None"
    default: str  # YAML-ish: "15", "null", "{}"
    limits: str  # "≥ 1", "one of adamw, sgd", "" when unchecked
    meaning: str


def field_comments(cls: type) -> dict[str, str]:
    """``{field: comment}`` from the source of a dataclass: the comment lines right above
    a field and the comment at the end of its line, joined."""
    source = inspect.getsource(inspect.getmodule(cls))
    lines = source.splitlines()
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    comments: dict[str, str] = {}
    for item in node.body:
        if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
            continue
        parts = []
        row = item.lineno - 2
        above = []
        while row >= 0 and lines[row].strip().startswith("#"):
            above.insert(0, lines[row].strip().lstrip("#").strip())
            row -= 1
        parts += above
        end_line = lines[item.end_lineno - 1]
        if "  # " in end_line:
            parts.append(end_line.split("  # ", 1)[1].strip())
        comments[item.target.id] = " ".join(parts)
    return comments


def _yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{}" if not value else repr(value)
    if isinstance(value, list):
        return "[]" if not value else repr(value)
    return str(value)


def _limits(check: dict[str, Any]) -> str:
    words = {"low": "≥", "above": ">", "high": "≤", "below": "<"}
    out = [f"{sign} {check[k]:g}" for k, sign in words.items() if k in check]
    if "choices" in check:
        out.append("one of " + ", ".join(check["choices"]))
    if "pattern" in check:
        out.append("one of " + check["pattern"].replace("|", ", ").replace("\\d+", "N"))
    return ", ".join(out)


def config_keys(notes: dict[str, str] | None = None) -> Iterator[ConfigKey]:
    """Every key of the engine config, in declaration order. The meaning is the comment
    beside the field in ``engine/config.py``; ``notes`` (``docs/config_notes.py``) adds
    one for a key whose field has no comment. A key with neither gets ``""``."""
    from spikeforge.engine.config import Config

    notes = notes or {}
    root = Config()
    for section in dataclasses.fields(Config):
        yield from _section_keys(getattr(root, section.name), section.name, notes)


def _section_keys(value: Any, where: str, notes: dict[str, str]) -> Iterator[ConfigKey]:
    """The keys of one (possibly nested: ``data.augment``) config dataclass."""
    comments = field_comments(type(value))
    for f in dataclasses.fields(value):
        key = f"{where}.{f.name}"
        inner = getattr(value, f.name)
        if dataclasses.is_dataclass(inner):  # a sub-section: list its own keys
            yield from _section_keys(inner, key, notes)
            continue
        meaning = " ".join(m for m in (comments.get(f.name, ""), notes.get(key, "")) if m)
        yield ConfigKey(
            key,
            str(f.type),
            _yaml_value(inner),
            _limits(f.metadata.get("check", {})),
            meaning,
        )


def config_page(notes: dict[str, str]) -> str:
    """The config reference page: a table per section with every key."""
    from spikeforge.engine.config import Config

    lines = [
        "# Config reference",
        "",
        "Generated from the dataclasses of `spikeforge.engine.config` at build time. A config",
        "file sets any of these keys; `key.path=value` on the command line overrides one;",
        "`spikeforge config show NAME` prints a shipped config with every default filled in.",
        "Values are checked against the type and the limits below when the config loads.",
        "",
        "Overrides: values are YAML; nested keys reach inside dicts",
        "(`model.kwargs.checkpoint=x.pt`); a dict value is merged into the file's dict rather",
        "than replacing it; `~key` resets a key to its default first, so",
        '`~model.neuron_kwargs "model.neuron_kwargs={T: 4}"` replaces the file\'s dict instead',
        "of merging into it. A wrong type stops with one line naming key, expected type and",
        "value (`train.epochs=abc`: `config key train.epochs expects int, got 'abc' (str)`); an",
        "unknown key lists the valid ones. A pipeline config (`lasnn_digits`, `mae_digits`) is a",
        "`base` engine config plus a section per stage, and its overrides address the stage",
        "(`teacher.train.epochs=5`). More in",
        "[command line and configs](../guides/command_line.md#configs).",
        "",
    ]
    keys = list(config_keys(notes))
    for section in dataclasses.fields(Config):
        doc = _first_paragraph(type(getattr(Config(), section.name)).__doc__)
        lines += [f"## `{section.name}`", "", doc, ""]
        lines += ["| key | type | default | limits | meaning |", "|---|---|---|---|---|"]
        for k in keys:
            if k.key.split(".", 1)[0] == section.name:
                cells = [f"`{k.key}`", f"`{k.type}`", f"`{k.default}`", k.limits, k.meaning]
                lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


# -- CLI reference ---------------------------------------------------------------------
def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_page() -> str:
    """The CLI reference: every command's ``--help`` (sub-commands too) and the names each
    ``spikeforge list KIND`` prints."""
    from spikeforge import cli

    os.environ["COLUMNS"] = "100"  # argparse wraps help at the terminal's width
    parser = cli.build_parser()
    lines = ["# CLI reference", "", "Generated from `spikeforge.cli.build_parser()`.", ""]
    lines += ["```text", parser.format_help().rstrip(), "```", ""]
    for name, sub in _subcommands(parser).items():
        lines += [f"## `spikeforge {name}`", "", "```text", sub.format_help().rstrip(), "```", ""]
        for sub_name, subsub in _subcommands(sub).items():
            lines += [f"### `spikeforge {name} {sub_name}`", ""]
            lines += ["```text", subsub.format_help().rstrip(), "```", ""]
    lines += ["## Benchmarks (`spikeforge bench NAME --help`)", ""]
    lines += ["| name | module | what it measures |", "|---|---|---|"]
    for name, module_name in sorted(cli.BENCHMARKS.items()):
        module = importlib.import_module(module_name)
        summary = _first_paragraph(module.__doc__).replace("|", "\\|")
        lines.append(f"| `{name}` | `{module_name}` | {summary} |")
    lines += ["", "## Registered names (`spikeforge list KIND`)", ""]
    for kind in sorted(cli.LISTABLE):
        out = io.StringIO()
        with redirect_stdout(out):
            cli.main(["list", kind])
        lines += [f"### `{kind}`", "", "```text", out.getvalue().rstrip(), "```", ""]
    return "\n".join(lines)


# -- benchmark results -----------------------------------------------------------------
def results_pages() -> dict[str, str]:
    """``{stem: markdown}`` for every ``benchmarks/results/*.md``, each followed by the
    plot of the same stem when there is one (the plot is copied beside the page)."""
    pages = {}
    for path in sorted(RESULTS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        if (RESULTS / f"{path.stem}.svg").exists():
            text += f"\n\n![{path.stem}]({path.stem}.svg)\n"
        pages[path.stem] = text
    return pages


def results_index(pages: dict[str, str]) -> str:
    """One line per results page: its title, linked."""
    lines = ["# Benchmark results", ""]
    lines += ["Every page here is a file of `benchmarks/results/`, written by the command"]
    lines += ["it names (`spikeforge bench NAME --out benchmarks/results`), with the machine"]
    lines += ["and its load at the time.", ""]
    for stem, text in pages.items():
        title = next((t[2:] for t in text.splitlines() if t.startswith("# ")), stem)
        lines.append(f"- [{title}]({stem}.md)")
    return "\n".join(lines) + "\n"
