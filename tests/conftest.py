"""Shared fixtures: seeded generators (function-scoped, never shared mutable state), one
torch thread for modules of tiny models, a small trained digits ANN checkpoint (one
per session, read-only: tests copy or load it, never write to it), and where the Triton
kernels of the Triton test modules run (``interpret``, ``target``)."""

from pathlib import Path

import pytest
import torch

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models train faster on one thread (and do not fight other test processes)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def digits_ann_checkpoint(tmp_path_factory) -> Path:
    """``configs/digits_ann.yaml`` trained for 3 epochs: the ``best.pt`` of a ``train.method
    = ann`` run, for conversion and hybrid tests."""
    from spikeforge.engine.config import load_config
    from spikeforge.engine.run import train

    run_dir = tmp_path_factory.mktemp("runs")
    overrides = ["train.epochs=3", "train.progress=false", f"train.run_dir={run_dir}"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(load_config(CONFIGS / "digits_ann.yaml", overrides))
    finally:
        torch.set_num_threads(threads)
    return run_dir / "digits-ann" / "best.pt"


def _triton_interpreter_reason() -> str | None:
    from spikeforge.kernels.triton.lif import interpreter_reason

    return interpreter_reason()


TRITON_TARGETS = ["interpreter", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.fixture
def interpret(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """For the Triton test modules (``pytestmark = pytest.mark.usefixtures("interpret")``):
    ``TRITON_INTERPRET=1`` for the test, restored afterwards (so other modules'
    ``backend="auto"`` on CPU tensors never reaches a Triton kernel); interpreted runs
    are skipped where the installed Triton's interpreter cannot run the kernels. Tests
    that need no interpreter are marked ``no_interpreter``; compiled runs unset it."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    callspec = getattr(request.node, "callspec", None)
    compiled = callspec is not None and callspec.params.get("target") == "cuda"
    if not compiled and request.node.get_closest_marker("no_interpreter") is None:
        reason = _triton_interpreter_reason()
        if reason is not None:
            pytest.skip(reason)


@pytest.fixture(params=TRITON_TARGETS)
def target(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> torch.device:
    """The device a Triton kernel runs on: CPU tensors in the interpreter (always), or,
    where torch sees a GPU, CUDA tensors with the compiled kernels (``TRITON_INTERPRET``
    unset)."""
    if request.param == "cuda":
        monkeypatch.delenv("TRITON_INTERPRET")
        return torch.device("cuda")
    return torch.device("cpu")
