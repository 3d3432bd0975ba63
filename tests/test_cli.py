import importlib
import re

import pytest

from spikeforge.cli import LISTABLE, main


@pytest.mark.parametrize(
    ("kind", "expected"), [("neurons", "lif"), ("surrogates", "atan"), ("methods", "ottt")]
)
def test_list_prints_registered_names(kind, expected, capsys):
    assert main(["list", kind]) == 0
    assert expected in capsys.readouterr().out.split()


def test_list_describes_every_entry_of_every_registry(capsys):
    for kind, (module, attr) in LISTABLE.items():
        registry = getattr(importlib.import_module(module), attr)
        undescribed = [name for name in registry.names() if not registry.describe(name)]
        assert not undescribed, f"{kind} without a docstring: {undescribed}"
        assert main(["list", kind]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert [line.split()[0] for line in lines] == registry.names()
        starts = {len(line) - len(line.split(maxsplit=1)[1]) for line in lines}
        assert len(starts) == 1, f"{kind}: descriptions not aligned"  # one column
    assert main(["list", "neurons"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^lif +Leaky integrate-and-fire neuron over \[T, B, \.\.\.\]\.$", out, re.M)


def test_help_and_unknown_kind(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "demo" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["list", "nothing"])
    assert info.value.code == 2


def test_data_dir_flag_reaches_the_config(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    args = ["train", "--data-dir", str(missing), "data.name=mnist-small", "train.progress=false"]
    assert main([*args, f"train.run_dir={tmp_path}"]) == 2
    assert str(missing) in capsys.readouterr().err  # the error names where it looked


def test_download_rejects_unknown_dataset(tmp_path, capsys):
    assert main(["download", "nope", "--data-dir", str(tmp_path)]) == 2
    assert "no download source for 'nope'" in capsys.readouterr().err


def test_version_and_unknown_words(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"spikeforge {version('spikeforge')}"
    with pytest.raises(SystemExit) as info:
        main(["list", "neurons", "oops=1"])  # `list` takes no overrides
    assert info.value.code == 2
    assert "unrecognized arguments: oops=1" in capsys.readouterr().err


def test_expected_errors_are_one_line_unless_debug(tmp_path, capsys):
    assert main(["train", "train.epochs=0"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "spikeforge: error: config key train.epochs must be >= 1, got 0"
    with pytest.raises(ValueError, match="train.epochs must be >= 1"):
        main(["--debug", "train", "train.epochs=0"])
    assert main(["eval", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_data_check_says_ok_or_names_the_bad_file(tmp_path, capsys):
    folder = tmp_path / "nmnist_small"
    folder.mkdir()
    (folder / "train1K.txt").write_text("1 5\n2 3\n")
    (folder / "test100.txt").write_text("60001 7\n")
    for sample_id in (1, 2, 60001):
        (folder / f"{sample_id}.bs2").write_bytes(bytes([1, 2, 0, 0, 10]))
    args = ["data", "check", "nmnist-small", "--data-dir", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["nmnist-small train: 2 samples ok", "nmnist-small test: 1 sample ok"]
    (folder / "2.bs2").write_bytes(b"")
    assert main([*args, "--split", "train"]) == 2
    captured = capsys.readouterr()
    error = [line for line in captured.err.splitlines() if line.startswith("spikeforge: error")]
    assert len(error) == 1 and str(folder / "2.bs2") in error[0] and "empty file" in error[0]
    assert main([*args, "--split", "test"]) == 0  # the bad file is in train only


def test_train_overwrite_flag_replaces_a_named_run_directory(tmp_path, capsys):
    run = ["train.epochs=1", "train.max_steps=1", "train.progress=false"]
    run += ["train.tensorboard=false", f"train.run_dir={tmp_path}", "train.run_name=r"]
    assert main(["train", *run]) == 0
    (tmp_path / "r" / "notes.txt").write_text("kept?")
    assert main(["train", *run]) == 2  # the directory holds a run: refused, one line
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "r" / "notes.txt").is_file()
    assert main(["train", "--overwrite", *run]) == 0
    assert not (tmp_path / "r" / "notes.txt").exists()
    assert (tmp_path / "r" / "last.pt").is_file()
    assert main(["train", "--resume", str(tmp_path / "r"), "--overwrite"]) == 2


def test_a_distributed_failure_exits_2_even_if_teardown_would_abort(tmp_path):
    """After a failed collective the backend's threads can abort at interpreter exit
    (SIGABRT); the CLI prints its one line and leaves at once with exit code 2. Here an
    exit handler stands in for that abort: it must not run."""
    import subprocess
    import sys

    script = tmp_path / "failing_rank.py"
    script.write_text(
        "import atexit, os, sys\n"
        "import spikeforge.cli as cli\n"
        "from spikeforge.engine.distributed import DistributedError\n"
        "def fail(args):\n"
        "    raise DistributedError('a collective with the other processes failed')\n"
        "atexit.register(os.abort)  # what a backend thread's destructor can do\n"
        "cli._cmd_list = fail\n"
        "sys.exit(cli.main(['list', 'models']))\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "spikeforge: error: a collective with the other processes failed"
    )
