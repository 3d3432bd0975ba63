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


def test_run_cpu_benchmark_measures_the_chosen_sizes_and_writes_only_with_out(tmp_path, capsys):
    seen = []

    def measure(settings, threads):
        seen.append((settings["n"], threads))
        return [{"n": settings["n"]}]

    def markdown(result):
        return f"# n = {result['rows'][0]['n']}, threads {result['meta']['threads']}\n"

    sizes = ({"n": 100}, {"n": 1})
    assert results.run_cpu_benchmark("x", "Doc.", ["--quick"], sizes, measure, markdown) == 0
    assert capsys.readouterr().out == "# n = 1, threads 1\n"
    out = tmp_path / "o"
    argv = ["--threads", "2", "--out", str(out)]
    assert results.run_cpu_benchmark("x", "Doc.", argv, sizes, measure, markdown) == 0
    assert seen == [(1, 1), (100, 2)]
    written = json.loads((out / "x.json").read_text())
    assert written["rows"] == [{"n": 100}] and written["meta"]["settings"] == {"n": 100}
    assert written["meta"]["command"] == f"spikeforge bench x --threads 2 --out {out}"
    assert (out / "x.md").read_text() == "# n = 100, threads 2\n"
    with pytest.raises(SystemExit) as info:
        results.run_cpu_benchmark("x", "Doc.", ["--threads", "0"], sizes, measure, markdown)
    assert info.value.code == 2 and len(seen) == 2
