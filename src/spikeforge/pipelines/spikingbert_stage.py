"""One trained stage of the SpikingBERT pipeline, resumable inside an epoch.

``RUN/<stage>/last.pt`` is written after every epoch and, when SIGINT/SIGTERM arrives
(Ctrl-C, or a machine's session ending), after the batch in flight: it holds the
distiller and optimiser states, the global RNG state, the epoch, the batches of that
epoch already done and their summed loss parts. A resumed stage skips those batches
(the loader's order is fixed per epoch), restores the RNG after the loader drew its
seed, and so ends bit-identical to a run that never stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from ..engine.checkpoint import save_checkpoint
from ..engine.interrupts import TrainingInterruptedError, deferred_interrupts
from ..methods.distill.spikingbert import EpochProgress, SpikingBertDistiller, train_epoch


def train_stage(
    directory: Path,
    distiller: SpikingBertDistiller,
    optimizer: torch.optim.Optimizer,
    train: DataLoader,
    evaluate_dev: Callable[[], dict[str, Any]],
    *,
    epochs: int,
    grad_clip: float | None,
    max_batches: int | None,
    seed: int,
    log: Callable[[str], None],
    name: str,
) -> tuple[list[dict[str, Any]], float]:
    """Train ``distiller`` for ``epochs`` (or what is left of them after ``last.pt``);
    returns the per-epoch history (loss parts and dev accuracy) and the seconds spent
    training it, summed over every call that worked on it (kept in ``last.pt``).
    Raises :class:`TrainingInterruptedError` on SIGINT/SIGTERM, after writing
    ``last.pt`` at the batch where it stopped."""
    history: list[dict[str, Any]] = []
    start, partial, rng, before = 0, EpochProgress(), None, 0.0
    last = directory / "last.pt"
    if last.is_file():
        state = torch.load(last, weights_only=True)
        distiller.load_state_dict(state["distiller"])
        optimizer.load_state_dict(state["optimizer"])
        start, history = int(state["epoch"]), list(state["history"])
        before = float(state.get("seconds", 0.0))  # earlier calls' training time
        # checkpoints written before mid-epoch resume have no step: an epoch's end
        partial = EpochProgress(int(state.get("step", 0)), dict(state.get("sums", {})))
        if partial.steps:
            rng = state["torch_rng"]  # restored once the epoch's loader drew its seed
            log(f"[{name}] resuming epoch {start + 1} at batch {partial.steps}")
        else:
            torch.set_rng_state(state["torch_rng"])
            log(f"[{name}] resuming after epoch {start}")
    else:  # a resumed stage keeps the saved RNG: dropout draws as if never stopped
        torch.manual_seed(seed)

    def checkpoint(epoch: int, progress: EpochProgress | None = None) -> None:
        progress = progress or EpochProgress()
        state = {
            "distiller": distiller.state_dict(),
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "epoch": epoch,
            "step": progress.steps,
            "sums": progress.sums,
            "history": history,
            "seconds": before + time.perf_counter() - started,
        }
        save_checkpoint(last, state)

    started = time.perf_counter()
    with deferred_interrupts() as request:
        for epoch in range(start, epochs):
            train.batch_sampler.set_epoch(epoch)  # type: ignore[union-attr]
            losses = train_epoch(
                distiller, train, optimizer, grad_clip, max_batches,
                progress=partial, stop=lambda: request.requested, rng_state=rng,
            )  # fmt: skip
            if partial.stopped:
                # Stopped before the epoch's first batch: last.pt from the end of the
                # epoch before (or none) is the place already; this moment's RNG is past
                # the loader's seed draw and would repeat it on resume.
                if partial.steps:
                    checkpoint(epoch, partial)
                raise TrainingInterruptedError(directory, epoch + 1, partial.steps, request.name)
            partial, rng = EpochProgress(), None
            accuracy = evaluate_dev()["accuracy"]
            history.append({"epoch": epoch + 1, **losses, "dev_accuracy": accuracy})
            shown = ", ".join(f"{k} {v:.4f}" for k, v in losses.items())
            log(f"[{name}] epoch {epoch + 1}/{epochs}: {shown}, dev {accuracy:.4f}")
            checkpoint(epoch + 1)
    return history, before + time.perf_counter() - started
