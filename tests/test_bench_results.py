"""Where the training benchmarks write (``bench/results.py``: a scratch folder unless
``--out`` says otherwise) and that every ``spikeforge bench NAME`` module answers
``--help`` without running anything."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from spikeforge.bench import results
from spikeforge.cli import BENCHMARKS

# the benchmarks that write their results through bench/results.py
WRITERS = [
    "conversion",
    "equilibrium",
    "online_training",
    "parallel_accuracy",
    "reference_results",
    "temporal_gradients",
]


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_every_benchmark_answers_help(name, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(BENCHMARKS[name])
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0
    assert "usage:" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("name", WRITERS)
def test_results_go_to_a_scratch_folder_by_default(name, capsys):
    module = importlib.import_module(BENCHMARKS[name])
    assert name == module.NAME
    with pytest.raises(SystemExit):
        module.main(["--help"])
    text = capsys.readouterr().out
    assert f"spikeforge bench {name}" in text
    assert f"runs/bench/{name}" in text  # the default, never benchmarks/results


def test_the_default_folder_is_not_the_committed_results():
    args = results.make_parser("x", "First line.\n\nMore.").parse_args([])
    assert Path(args.out) == results.SCRATCH / "x"
    assert not Path(args.out).resolve().is_relative_to(results.COMMITTED.resolve())
    assert results.make_parser("x", None).parse_args(["--out", "d"]).out == "d"


def test_the_recorded_command_is_the_cli_one():
    assert results.command("x", ["--a", "b c"]) == "spikeforge bench x --a 'b c'"
    assert results.arguments(["--q"]) == ["--q"]


def test_write_results_writes_the_json_and_the_markdown_into_a_new_folder(tmp_path, capsys):
    out = tmp_path / "a" / "b"
    results.write_results(out, "thing", {"rows": [1, 2.5]}, "# table\n")
    assert json.loads((out / "thing.json").read_text()) == {"rows": [1, 2.5]}
    assert (out / "thing.md").read_text() == "# table\n"
    assert capsys.readouterr().out == f"wrote {out / 'thing'}.json and .md\n"
