"""The docs site's generated pages and their checks (``docs/docgen.py``,
``docs/tutorial_runner.py``, ``docs/config_notes.py``), without building the site: the
full ``make docs`` build (mkdocs --strict, every tutorial executed) runs in CI."""

from __future__ import annotations

import dataclasses
import importlib
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
sys.path.insert(0, str(DOCS))

import docgen  # noqa: E402
import tutorial_runner  # noqa: E402
from config_notes import NOTES  # noqa: E402

import spikeforge  # noqa: E402
from spikeforge.engine.config import Config  # noqa: E402


# -- public names and the API reference ------------------------------------------------
def test_public_names_follow_the_reexport_idiom(tmp_path, monkeypatch):
    (tmp_path / "fakepkg").mkdir()
    (tmp_path / "fakepkg" / "inner.py").write_text("def f():\n    '''f.'''\nclass C:\n    pass\n")
    (tmp_path / "fakepkg" / "__init__.py").write_text(
        "from typing import Any\n"
        "from .inner import f as f\n"
        "from .inner import C\n"  # imported without `as`: not exported
        "from . import inner as inner\n"
        "TABLE = {}\n"
        "helper = 1\n"  # lower-case assignment: not exported
        "class Public:\n    '''p.'''\n"
        "def _private():\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    fake = importlib.import_module("fakepkg")
    assert docgen.public_names(fake) == ["Public", "TABLE", "f", "inner"]
    # C has no docstring, but is not public; inner (a module) has none and is.
    assert docgen.missing_docstrings(fake) == ["fakepkg.inner"]
    fake.__all__ = ["f"]  # an explicit __all__ wins
    assert docgen.public_names(fake) == ["f"]


def test_known_public_names_are_found():
    neurons = docgen.public_names(importlib.import_module("spikeforge.neurons"))
    assert {"LIF", "IF", "PLIF", "NEURONS", "create_neuron", "set_finite_check"} <= set(neurons)
    kernels = importlib.import_module("spikeforge.kernels")
    assert docgen.public_names(kernels) == sorted(kernels.__all__)


def test_every_top_level_public_name_has_an_api_page():
    # spikeforge's public names are its subpackages (and surrogates): each gets a page
    top = set(docgen.public_names(spikeforge))
    pages = docgen.api_subpackages()
    assert top and top <= set(pages), top - set(pages)
    assert len(pages) == len(set(pages))
    assert pages[:3] == ["neurons", "functional", "surrogates"]  # SUBPACKAGES's order first
    assert not set(pages) & {"demo", "cli", "__main__", "_registry"}


def test_a_new_subpackage_gets_its_api_page(monkeypatch):
    import pkgutil

    real = pkgutil.iter_modules

    def with_new(path):
        yield from real(path)
        yield pkgutil.ModuleInfo(None, "zz_new", True)

    monkeypatch.setattr(pkgutil, "iter_modules", with_new)
    assert docgen.api_subpackages()[-1] == "zz_new"


@pytest.mark.parametrize("sub", docgen.api_subpackages())
def test_every_public_name_appears_in_the_api_reference(sub):
    module = importlib.import_module(f"spikeforge.{sub}")
    page = docgen.api_page(sub)
    documented = docgen.documented_names(page)
    wanted = {f"spikeforge.{sub}.{name}" for name in docgen.public_names(module)}
    assert wanted <= documented, sorted(wanted - documented)
    assert f"spikeforge.{sub}" in documented
    for name in wanted:  # every block names a real object
        assert getattr(module, name.rsplit(".", 1)[1]) is not None


@pytest.mark.parametrize("sub", docgen.api_subpackages())
def test_every_public_class_and_function_has_a_docstring(sub):
    assert docgen.missing_docstrings(importlib.import_module(f"spikeforge.{sub}")) == []


def test_api_index_links_every_page():
    index = docgen.api_index()
    for sub in docgen.api_subpackages():
        assert f"]({sub}.md)" in index


# -- config reference ------------------------------------------------------------------
def _all_keys() -> set[str]:
    """Every leaf key; a nested section (``data.augment``) contributes its own keys."""

    def leaves(value, where):
        for f in dataclasses.fields(value):
            inner = getattr(value, f.name)
            if dataclasses.is_dataclass(inner):
                yield from leaves(inner, f"{where}.{f.name}")
            else:
                yield f"{where}.{f.name}"

    root = Config()
    return {
        key
        for section in dataclasses.fields(Config)
        for key in leaves(getattr(root, section.name), section.name)
    }


def test_every_config_key_appears_in_the_config_reference_with_a_meaning():
    page = docgen.config_page(NOTES)
    keys = {k.key: k for k in docgen.config_keys(NOTES)}
    assert set(keys) == _all_keys()
    for key, k in keys.items():
        assert f"| `{key}` |" in page, key
        assert k.meaning, f"{key} has no meaning: comment its field or add a docs note"
    assert set(NOTES) <= set(keys), f"stale notes: {sorted(set(NOTES) - set(keys))}"


def test_config_reference_reads_types_defaults_limits_and_comments():
    keys = {k.key: k for k in docgen.config_keys({})}
    epochs = keys["train.epochs"]
    assert (epochs.type, epochs.default, epochs.limits) == ("int", "15", "≥ 1")
    clip = keys["optim.grad_clip"]
    assert (clip.type, clip.default, clip.limits) == ("float | None", "null", "> 0")
    assert clip.meaning == "max gradient norm; null: no clipping"  # the trailing comment
    assert keys["optim.name"].limits == "one of adamw, sgd"
    assert keys["optim.momentum"].limits == "≥ 0, < 1"
    # a comment on the lines above the field
    assert keys["model.surrogate"].meaning.startswith("a registered surrogate's name")
    assert keys["train.amp"].default == "false"
    assert keys["data.name"].meaning == ""  # no comment, no note given
    # a nested section lists its own keys, with their comments and limits
    crop = keys["data.augment.crop_padding"]
    assert (crop.type, crop.default, crop.limits) == ("int", "0", "≥ 0")
    assert crop.meaning.startswith("random H×W crop after zero padding")
    assert "data.augment" not in keys


def test_field_comments_reads_above_and_beside(tmp_path, monkeypatch):
    (tmp_path / "fakecfg.py").write_text(
        "from dataclasses import dataclass\n"
        "@dataclass\nclass S:\n"
        "    # first line\n    # second line\n    a: int = 1\n"
        "    b: str = 'x'  # beside\n"
        "    c: float = 0.5\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    fake = importlib.import_module("fakecfg")
    assert docgen.field_comments(fake.S) == {"a": "first line second line", "b": "beside", "c": ""}


# -- CLI reference and results ---------------------------------------------------------
def test_cli_page_has_every_command_and_registry():
    from spikeforge import cli

    page = docgen.cli_page()
    for name in docgen._subcommands(cli.build_parser()):
        assert f"## `spikeforge {name}`" in page
    for kind in cli.LISTABLE:
        assert f"### `{kind}`" in page
    assert "lif " in page  # `spikeforge list neurons` output is embedded
    for bench in cli.BENCHMARKS:
        assert f"| `{bench}` |" in page


def test_results_pages_are_the_committed_files():
    pages = docgen.results_pages()
    files = sorted(p.stem for p in docgen.RESULTS.glob("*.md"))
    assert sorted(pages) == files and files
    assert "(conversion_digits.svg)" in pages["conversion_digits"]  # its plot beside it
    index = docgen.results_index(pages)
    assert all(f"]({stem}.md)" in index for stem in files)


# -- tutorial runner -------------------------------------------------------------------
def test_parse_cells_splits_percent_format():
    text = "# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\nprint(x)\n# %%\n\n"
    cells = tutorial_runner.parse_cells(text)
    assert [(c.kind, c.source) for c in cells] == [
        ("markdown", "# Title\n\ntext"),
        ("code", "x = 1\nprint(x)"),
    ]


def test_run_cells_records_output_in_order_and_raises(tmp_path):
    script = tmp_path / "t.py"
    script.write_text("# %%\nprint('hello')\n# %% [markdown]\n# done\n# %%\nprint(2 + 2)\n")
    cells = tutorial_runner.run_cells(script)
    assert [c.stdout for c in cells] == ["hello\n", "", "4\n"]
    page = tutorial_runner.render(cells, "t.py", 1.0)
    assert "```text\nhello\n```" in page
    assert page.index("hello") < page.index("done") < page.index("4\n")
    assert "[`t.py`](t.py)" in page and "python docs/tutorials/t.py" in page
    script.write_text("# %%\nassert 1 == 2, 'the claim'\n")
    with pytest.raises(AssertionError, match="the claim"):
        tutorial_runner.run_cells(script)


def test_run_cells_embeds_each_cells_figures(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib (in the test extra)")
    script = tmp_path / "t.py"
    script.write_text(
        "# %%\nimport matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "plt.plot([1, 2])\n# %%\nx = 1\n"
    )
    cells = tutorial_runner.run_cells(script)
    assert len(cells[0].images) == 1 and not cells[1].images  # closed after their cell
    assert "data:image/png;base64," in tutorial_runner.render(cells, "t.py", None)


def test_split_grouped_params_only_inside_args():
    doc = (
        "Summary: a, b: not a parameter list.\n\n"
        "Args:\n"
        "    x, y: maps of equal shape.\n"
        "        more about them.\n"
        "    k1,k2: constants.\n"
        "    window: the window.\n\n"
        "Returns:\n"
        "    a, b: a pair (not parameters).\n"
    )
    assert docgen.split_grouped_params(doc).splitlines() == [
        "Summary: a, b: not a parameter list.",
        "",
        "Args:",
        "    x: maps of equal shape.",
        "    y: maps of equal shape.",
        "        more about them.",
        "    k1: constants.",
        "    k2: constants.",
        "    window: the window.",
        "",
        "Returns:",
        "    a, b: a pair (not parameters).",
    ]


def test_execute_reports_a_failing_tutorial(tmp_path):
    script = tmp_path / "bad.py"
    script.write_text("# %%\nraise ValueError('broken tutorial')\n")
    with pytest.raises(tutorial_runner.TutorialError, match="broken tutorial"):
        tutorial_runner.execute(script, timeout=60)


@pytest.mark.slow
def test_coming_from_guide_runs():
    """Every row's snippet of the 'Coming from' guide (also run by ``make docs``)."""
    cells, _ = tutorial_runner.execute(DOCS / "guides" / "coming_from.py")
    assert "identical spikes" in "".join(c.stdout for c in cells)


def test_every_tutorial_is_in_the_nav_and_states_what_it_shows():
    nav = (DOCS.parent / "mkdocs.yml").read_text()
    for folder in ("tutorials", "guides"):
        for path in sorted((DOCS / folder).glob("*.py")):
            assert f"{folder}/{path.stem}.md" in nav, path.name
            first = tutorial_runner.parse_cells(path.read_text())[0]
            assert first.kind == "markdown" and first.source.startswith("# "), path.name
            if folder == "tutorials":
                assert "**What this shows.**" in first.source, path.name
                assert "assert " in path.read_text(), f"{path.name} checks nothing"
