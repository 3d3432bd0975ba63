"""The layering stays true: lower layers never import higher ones (lazy imports inside
functions included), and no two modules import each other, directly or in a ring.

Layer order (README, "Architecture"): helpers → surrogates → functional / data /
encoding → kernels / losses → neurons → layers / analysis → models → methods → engine →
pipelines / bench → demo → cli. A package's ``__init__`` may re-export its own modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "spikeforge"

RANK = {
    "_registry": 0,
    "_validation": 0,
    "_progress": 0,
    "_schedule": 0,
    "surrogates": 1,
    "functional": 2,
    "data": 2,
    "encoding": 2,
    "kernels": 3,
    "losses": 3,
    "neurons": 4,
    "layers": 5,
    "analysis": 5,
    "models": 6,
    "methods": 7,
    "engine": 8,
    "pipelines": 9,
    "bench": 9,
    "export": 9,
    "demo": 10,
    "cli": 11,
    "__main__": 12,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str | None = None) -> set[str]:
    """Every ``spikeforge`` module ``path`` imports, at any depth of the file."""
    name = name or _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != "spikeforge":
                continue
            found.add(target)
            for alias in node.names:  # `from . import x` names a module
                candidate = f"{target}.{alias.name}"
                if _exists(candidate):
                    found.add(candidate)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "spikeforge")
    return found


def _exists(module: str) -> bool:
    relative = Path(*module.split(".")[1:])
    return (ROOT / relative).with_suffix(".py").is_file() or (ROOT / relative).is_dir()


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


SOURCES = sorted(ROOT.rglob("*.py"))
GRAPH = {_module_name(p): _imports(p) for p in SOURCES}


def test_every_unit_has_a_layer():
    units = {_unit(m) for m in GRAPH} - {"__init__"}
    assert units <= set(RANK), f"give these a layer in RANK and the README: {units - set(RANK)}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down_the_layers(path):
    source = _module_name(path)
    unit = _unit(source)
    if unit == "__init__":
        return  # the package root re-exports the public packages
    upward = _upward(source, GRAPH[source])
    assert not upward, f"{source} (layer {RANK[unit]}) imports {upward}"


def _rings() -> list[list[str]]:
    """Import cycles between modules (a package ``__init__`` re-exporting its own
    submodules is not a dependency of those submodules on it)."""
    edges = {
        m: {
            t
            for t in targets
            if t in GRAPH and t != m and not (m.startswith(t + ".") and t != "spikeforge")
        }
        for m, targets in GRAPH.items()
    }
    for m in edges:  # `pkg/__init__` -> `pkg.sub` is re-export, not a dependency edge
        edges[m] = {t for t in edges[m] if not t.startswith(m + ".")}
    edges = {m: {t for t in ts if t != "spikeforge"} for m, ts in edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    rings: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            ring = []
            while True:
                top = stack.pop()
                ring.append(top)
                if top == node:
                    break
            if len(ring) > 1:
                rings.append(sorted(ring))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return rings


def test_no_import_cycles_between_modules():
    assert _rings() == []


def _upward(source: str, targets: set[str]) -> list[str]:
    unit = _unit(source)
    return sorted(
        t for t in targets if _unit(t) not in ("__init__", unit) and RANK[_unit(t)] >= RANK[unit]
    )


def test_the_checker_finds_a_lazy_relative_upward_import(tmp_path):
    """Would the test fail on a violation? A planted lazy, relative import of the engine
    inside a function of a (pretend) functional module is found and flagged."""
    fake = tmp_path / "fake.py"
    fake.write_text("def f():\n    from ..engine.run import train\n    return train\n")
    found = _imports(fake, "spikeforge.functional.fake")
    assert "spikeforge.engine.run" in found
    assert _upward("spikeforge.functional.fake", found) == ["spikeforge.engine.run"]


def _pure_reexport(path: Path) -> bool:
    """A package ``__init__`` that only imports, sets ``__all__`` and has a docstring."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if docstring and isinstance(node.value.value, str):
            continue
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if all(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                continue
        return False
    return True


def _test_module_of(path: Path) -> str | None:
    """``a/b/c.py`` -> ``test_a_b_c.py``, leading underscores of each part dropped (a dunder
    loses both sides: ``__main__.py`` -> ``test_main.py``); a package ``__init__`` with code
    -> ``test_<package>.py`` (the root: ``test_spikeforge.py``); ``None`` for a pure
    re-export ``__init__``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        if _pure_reexport(path):
            return None
        parts = parts[:-1] or [ROOT.name]
    bare = [
        p.strip("_") if p.startswith("__") and p.endswith("__") else p.lstrip("_") for p in parts
    ]
    return "test_" + "_".join(bare) + ".py"


def test_every_module_has_its_test_module_named_after_it():
    """Tests mirror src: each source module with code is tested by the test module named
    after it, and every test module names an existing source module (helpers such as
    ``conftest.py`` do not start with ``test_``; this cross-cutting module is exempt)."""
    here = Path(__file__).resolve().parent
    assert _test_module_of(ROOT / "kernels" / "cpu" / "_build.py") == "test_kernels_cpu_build.py"
    assert _test_module_of(ROOT / "data" / "formats" / "aedat2.py") == "test_data_formats_aedat2.py"
    assert _test_module_of(ROOT / "layers" / "__init__.py") is None  # only re-exports
    expected: dict[str, list[Path]] = {}
    for path in SOURCES:
        name = _test_module_of(path)
        if name is not None:
            expected.setdefault(name, []).append(path.relative_to(ROOT))
    clashes = {name: paths for name, paths in expected.items() if len(paths) > 1}
    assert not clashes, f"two modules map to one test module: {clashes}"
    # test_docs.py tests the docs site's generators under docs/, not a source module
    present = {p.name for p in here.glob("test_*.py")} - {Path(__file__).name, "test_docs.py"}
    missing = [f"src/spikeforge/{paths[0]} -> tests/{name}" for name, paths in
               sorted(expected.items()) if name not in present]  # fmt: skip
    orphans = sorted(present - set(expected))
    assert not missing, "source modules without their test module:\n  " + "\n  ".join(missing)
    assert not orphans, "test modules named after no source module: " + ", ".join(orphans)
