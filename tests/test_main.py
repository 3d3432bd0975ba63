"""``python -m spikeforge`` (``__main__.py``): the command line's exit status becomes the
process's, as ``torchrun -m spikeforge`` needs it."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "spikeforge", *args], capture_output=True, text=True, timeout=120
    )


def test_the_module_runs_the_cli():
    done = _run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"spikeforge {version('spikeforge')}"


def test_the_exit_status_is_the_clis():
    done = _run("train", "train.epochs=0")  # an expected error: status 2, one line
    assert done.returncode == 2
    assert done.stderr.strip() == "spikeforge: error: config key train.epochs must be >= 1, got 0"
    assert _run("list", "neurons").returncode == 0
