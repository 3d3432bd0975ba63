"""Multi-process training on PyTorch's own engine (torchrun + DistributedDataParallel).

``torchrun --nproc_per_node=N -m spikeforge train ...`` sets ``RANK``/``WORLD_SIZE``/
``LOCAL_RANK``; :func:`init_from_env` then joins the process group (gloo on CPU, nccl on
CUDA) with a timeout of ``$SPIKEFORGE_DIST_TIMEOUT`` seconds (default 300): a collective
that a stuck rank never joins fails on the others after that long. ``data.batch_size`` is
the *global* batch: each rank takes an equal share of
every batch of the shared, seeded sample order, so results do not depend on N (up to
BatchNorm statistics, which are per rank on CPU: SyncBatchNorm is GPU-only in torch).
Only rank 0 writes logs and checkpoints.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist


class DistributedError(RuntimeError):
    """A collective failed: another process is stuck (past the timeout) or gone."""


def timeout_seconds() -> float:
    """``$SPIKEFORGE_DIST_TIMEOUT`` (seconds, default 300)."""
    return float(os.environ.get("SPIKEFORGE_DIST_TIMEOUT", "300"))


@contextmanager
def explained_failures() -> Iterator[None]:
    """Under several processes, turn the backend's raw errors of a collective that never
    completes (a stuck rank: "Timed out waiting ..."; a dead one: "Connection closed by
    peer", "Broken pipe") into a :class:`DistributedError` that says what happened."""
    try:
        yield
    except RuntimeError as error:
        text = str(error)
        signs = ("Timed out", "timed out", "Connection closed", "Broken pipe", "Connection reset")
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not any(s in text for s in signs):
            raise
        first = text.strip().splitlines()[0][:200] if text.strip() else type(error).__name__
        raise DistributedError(
            f"a collective with the other processes failed (timeout "
            f"SPIKEFORGE_DIST_TIMEOUT={timeout_seconds():g} s): another process is stuck or "
            f"has died ({first})"
        ) from None


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job (``world == 1``: not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device: torch.device) -> DistInfo:
    """Join the process group torchrun describes in the environment (no-op without it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        # a stuck or dead rank fails the others after this long instead of gloo's 30 min
        timeout = timedelta(seconds=timeout_seconds())
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timeout)
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def shard(indices: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """This rank's equal share of a global batch of sample indices."""
    if not info.enabled:
        return indices
    if len(indices) % info.world:
        raise ValueError(
            f"a batch of {len(indices)} samples cannot be split evenly over {info.world} "
            "processes; choose data.batch_size (and a dataset size) divisible by the process count"
        )
    return indices[info.rank :: info.world]


def all_reduce_sum(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum ``values`` over ranks (identity when not distributed)."""
    if info.enabled:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def average_gradients(params: list[torch.nn.Parameter], info: DistInfo) -> None:
    """Mean of each gradient over ranks, in place (what DDP does for the model's own
    parameters; used for trainable parameters outside the DDP-wrapped model, such as
    feature-KD adapters). One flat all-reduce; parameters without a gradient are skipped
    on every rank alike, since all ranks run the same graph."""
    grads = [p.grad for p in params if p.grad is not None]
    if not info.enabled or not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= info.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo, barrier: bool = True) -> None:
    """Leave the process group (safe to call when not distributed): a barrier first, so
    that no rank tears down its connections while another still sends (an abort at
    exit), then ``destroy_process_group``. ``barrier=False`` after a failure: the other
    processes may never arrive."""
    if info.enabled and dist.is_initialized():
        try:
            if barrier:
                dist.barrier()
        finally:
            dist.destroy_process_group()
