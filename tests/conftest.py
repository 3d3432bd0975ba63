"""Shared fixtures: seeded generators (function-scoped, never shared mutable state), one
torch thread for modules of tiny models, and a small trained digits ANN checkpoint (one
per session, read-only: tests copy or load it, never write to it)."""

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
