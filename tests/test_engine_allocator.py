"""``engine/allocator.py``: glibc's thresholds raised so training steps stop page-faulting,
and the training commands that set them."""

import subprocess
import sys

import pytest

from spikeforge.cli import main
from spikeforge.engine import allocator


class FakeLibc:
    def __init__(self, answer=1):
        self.calls, self.answer = [], answer

        def mallopt(param, value):
            self.calls.append((param, value))
            return self.answer

        self.mallopt = mallopt


def with_libc(monkeypatch, libc):
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: libc)


def test_both_thresholds_are_set_to_the_documented_values(monkeypatch):
    monkeypatch.delenv(allocator.ENV, raising=False)
    libc = FakeLibc()
    with_libc(monkeypatch, libc)
    assert allocator.keep_freed_memory() is None
    assert libc.calls == [(-1, 1 << 30), (-3, 32 << 20)]  # M_TRIM_THRESHOLD, M_MMAP_THRESHOLD


def test_the_environment_opts_in_and_a_bad_value_is_refused(monkeypatch):
    libc = FakeLibc()
    with_libc(monkeypatch, libc)
    monkeypatch.delenv(allocator.ENV, raising=False)
    assert allocator.from_environment() == "SPIKEFORGE_MALLOC=default"
    monkeypatch.setenv(allocator.ENV, "default")
    assert allocator.from_environment() == "SPIKEFORGE_MALLOC=default"
    assert libc.calls == []
    monkeypatch.setenv(allocator.ENV, "Keep")
    assert allocator.from_environment() is None and len(libc.calls) == 2
    monkeypatch.setenv(allocator.ENV, "always")
    with pytest.raises(ValueError, match="SPIKEFORGE_MALLOC must be one of default, keep"):
        allocator.from_environment()


def test_refusal_and_a_c_library_without_mallopt_say_why(monkeypatch):
    with_libc(monkeypatch, FakeLibc(answer=0))
    assert allocator.keep_freed_memory() == "mallopt refused the trim threshold and mmap threshold"
    with_libc(monkeypatch, object())
    assert "no mallopt in the C library" in allocator.keep_freed_memory()


STEP = """
import resource, sys, torch
from spikeforge.engine.allocator import keep_freed_memory
from spikeforge.models import create
torch.set_num_threads(1)
if sys.argv[1] == "keep":
    assert keep_freed_memory() is None
torch.manual_seed(0)
model = create("trevsnn_cifar", num_classes=10, neuron="q", timesteps=4, reversible=True)
x = torch.rand(4, 16, 3, 32, 32)
for _ in range(2):
    model(x).sum().backward()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    model(x).sum().backward()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc: Linux")
def test_training_steps_stop_page_faulting_in_a_fresh_process():
    def faults(mode):
        run = subprocess.run(
            [sys.executable, "-c", STEP, mode], capture_output=True, text=True, check=True
        )
        return float(run.stdout.split()[-1])

    default, kept = faults("default"), faults("keep")
    # measured: about 5000 page faults per step by default, under 200 with the setting
    assert default > 1000 and kept < default / 10


def test_train_and_run_commands_set_it_when_asked(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1))
    monkeypatch.setenv(allocator.ENV, "keep")
    run = ["train.epochs=1", "train.max_steps=1", "train.progress=false"]
    run += ["train.tensorboard=false", f"train.run_dir={tmp_path}", "train.run_name=r"]
    assert main(["train", *run]) == 0 and calls == [1]
    import spikeforge.cli as cli

    def pipeline(pipeline, args):  # set before the pipeline's first stage
        assert calls == [1, 1]
        return {"status": "stopped", "stage": "teacher", "run_dir": str(tmp_path)}

    monkeypatch.setattr(cli, "_run_pipeline", pipeline)
    assert main(["run", "lasnn", "--run-dir", str(tmp_path / "p")]) == 0
    assert main(["list", "neurons"]) == 0 and calls == [1, 1]  # other commands: untouched
    monkeypatch.setenv(allocator.ENV, "default")
    assert main(["train", *run, "--overwrite"]) == 0 and calls == [1, 1]
    monkeypatch.setenv(allocator.ENV, "on")
    assert main(["train", *run, "--overwrite"]) == 2 and calls == [1, 1]
    assert "SPIKEFORGE_MALLOC must be one of" in capsys.readouterr().err
