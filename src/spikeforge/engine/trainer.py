"""The one training loop: any model, dataset, neuron and method; resumable bit-exactly.

Reproducibility: the sample order of epoch ``e`` is a permutation drawn from a
generator seeded with ``(seed, e)``, and stochastic encoders get a generator seeded
with ``(seed, e, batch)``; a checkpoint stores the position in the epoch plus the
model, optimiser, schedule and global RNG states. Resuming therefore replays exactly
the batches an uninterrupted run would have seen, with the same random numbers.
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.utils.data import Dataset

from .._progress import progress
from .._schedule import (
    find_scheduled,
    schedule_values,
    schedules_finished,
    set_progress,
    training_progress,
)
from ..analysis import FiringRateMonitor
from ..data import time_major_collate
from ..data.augment import ImageAugment, check_image_dataset
from ..layers.recompute import memory_mode
from ..methods import Method
from .build import build_decoder, build_encoder, build_optimizer, build_schedule, decoder_name
from .checkpoint import (
    RESUME_ENTRIES,
    CheckpointError,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
)
from .config import Config, TrainConfig
from .distributed import all_reduce_sum, average_gradients, init_from_env, shard
from .interrupts import StopRequest, TrainingInterruptedError, deferred_interrupts
from .run_log import RunLog


class _StopNowError(Exception):
    """Raised at a safe point when a signal asked the run to stop."""


class TrainingError(RuntimeError):
    """Training cannot continue (e.g. a non-finite loss); the last checkpoint is intact."""


def _mix(*numbers: int) -> int:
    """A 63-bit seed from several integers (stable across runs and platforms)."""
    value = 0x9E3779B97F4A7C15
    for n in numbers:
        value = (value * 0x100000001B3 ^ (n & 0xFFFFFFFFFFFFFFFF)) & 0x7FFFFFFFFFFFFFFF
    return value


def _logged_terms(terms: dict[str, Any]) -> dict[str, float]:
    """A method's scalar terms but the loss (logged already, as are regularizers' reg_*)."""
    kept = {k: v for k, v in terms.items() if k != "loss" and not k.startswith("reg_")}
    return {k: float(v.detach()) for k, v in kept.items() if torch.is_tensor(v) and v.dim() == 0}


def _check_memory(train: TrainConfig, method: Method, sync_batch_norm: bool) -> None:
    """Refuse ``train.memory=checkpoint`` where recomputing blocks in backward cannot
    replay the forward."""
    if train.memory != "checkpoint":
        return
    if getattr(method, "backpropagates", False):
        raise ValueError(
            f"train.memory=checkpoint recomputes blocks during backward, but method "
            f"{train.method} calls backward itself (the step-by-step methods carry neuron "
            "state from call to call, which a recomputation cannot replay): use "
            "train.memory=compact or full"
        )
    if sync_batch_norm:
        # SyncBatchNorm would all-gather again inside the backward's recomputation: not
        # tried on several GPUs, so not allowed until it is.
        raise ValueError(
            "train.memory=checkpoint is not supported with several CUDA processes "
            "(SyncBatchNorm in a recomputed block): use train.memory=compact or full"
        )


@dataclass
class Position:
    """Where the run is: the epoch in progress and the batches already done in it."""

    epoch: int = 0
    batch: int = 0
    step: int = 0  # optimiser steps overall


class Trainer:
    """Fit ``model`` with ``method`` on ``train_set``, evaluating on ``test_set``.

    Args:
        config: the resolved experiment config (saved into the run directory).
        model: maps ``[T, B, ...]`` to per-step scores ``[T, B, C]``.
        method: turns a batch into a loss (see :mod:`spikeforge.methods`).
        train_set, test_set: datasets of ``(x, label)``.
        run_dir: where config, logs and checkpoints go.
    """

    def __init__(
        self,
        config: Config,
        model: nn.Module,
        method: Method,
        train_set: Dataset,
        test_set: Dataset,
        run_dir: str | Path,
        device: str | torch.device = "cpu",
    ) -> None:
        self.config = config
        self.device = torch.device(device)
        self.dist = init_from_env(self.device)
        self.model = model.to(self.device)
        self.method = method.to(self.device)
        if getattr(method, "backpropagates", False):  # it calls backward per step itself
            method.backward = lambda loss: self.scaler.scale(loss).backward()
        self.train_model: nn.Module = self.model
        if self.dist.enabled:
            if self.device.type == "cuda":
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            self.train_model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        # Submodules whose settings follow training progress (e.g. masked PSN's λ): set
        # from the position before every step, so a resumed run continues them exactly.
        self.scheduled = find_scheduled(self.model)
        self.train_set, self.test_set = train_set, test_set
        self.run_dir = Path(run_dir)
        self.temporal = bool(getattr(train_set, "temporal", False))
        d = config.data
        self.encoder = None
        if d.encoder != "none":
            if self.temporal:
                raise ValueError(
                    f"dataset {d.name!r} already yields [T, ...] samples; set data.encoder=none"
                )
            self.encoder = build_encoder(config)
        elif not self.temporal:
            raise ValueError(
                f"dataset {d.name!r} yields static samples; data.encoder must name an encoder"
            )
        # training batches only: evaluate() and the methods' own set-up never see it
        augment = ImageAugment(d.augment.crop_padding, d.augment.flip)
        self.augment = augment if augment.active else None
        if self.augment is not None:
            check_image_dataset(train_set, d.name)
        self.steps_per_epoch = math.ceil(len(train_set) / d.batch_size)
        self.method_params = list(self.method.parameters())  # e.g. feature-KD adapters
        params = list(self.model.parameters()) + self.method_params
        self.optimizer = build_optimizer(config, params)
        self.schedule = build_schedule(config, self.optimizer, self.steps_per_epoch)
        self.position = Position()
        self._stop: StopRequest | None = None  # set while fit() runs
        # Running sum and count of this process's batch losses in the epoch in progress,
        # and of its correct predictions and samples (checkpointed, so a run resumed
        # mid-epoch reports the same mean train loss and accuracy).
        self.loss_sum, self.loss_count = 0.0, 0
        self.correct_count, self.seen_count = 0, 0
        # sums of the method's scalar terms (e.g. LaSNN's "ce", "kd", "at_0"), logged as
        # their epoch means "train_<term>" beside train_loss; checkpointed like it
        self.term_sums: dict[str, float] = {}
        self._train_decoder: nn.Module | None = None  # built at the first batch
        self.history: list[dict[str, Any]] = []
        # training seconds of earlier fit() calls on this run (resumes), and the moment
        # the running call counts from (None outside fit)
        self.seconds_before = 0.0
        self._counting_since: float | None = None
        # the best epoch's score: test accuracy, or −test loss for a method without classes
        self.best_accuracy = -1.0 if method.classifies else -math.inf
        self.epochs_without_improvement = 0
        self.log = RunLog(self.run_dir, tensorboard=config.train.tensorboard)
        if config.train.amp and self.device.type != "cuda":
            raise ValueError(
                f"train.amp=true needs a CUDA device (mixed precision with a gradient "
                f"scaler); this run is on {self.device}"
            )
        self.scaler = torch.amp.GradScaler("cuda", enabled=config.train.amp)
        _check_memory(config.train, method, self.dist.enabled and self.device.type == "cuda")

    # -- data -------------------------------------------------------------------------
    def _batch_indices(self, epoch: int) -> list[torch.Tensor]:
        """Global batches of epoch ``epoch`` (the same on every rank)."""
        generator = torch.Generator().manual_seed(_mix(self.config.train.seed, epoch))
        order = torch.randperm(len(self.train_set), generator=generator)
        batches = list(order.split(self.config.data.batch_size))
        if self.dist.enabled and len(batches[-1]) % self.dist.world:
            # Equal shares keep DDP's gradient mean equal to the global batch mean.
            keep = len(batches[-1]) - len(batches[-1]) % self.dist.world
            batches = batches[:-1] + ([batches[-1][:keep]] if keep else [])
        return batches

    def _load(self, dataset: Dataset, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = [dataset[int(i)] for i in indices]
        return time_major_collate(batch, temporal=self.temporal)

    def encode(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Static ``[B, ...]`` -> ``[T, B, ...]`` (temporal batches pass through)."""
        x = x.to(self.device)
        return x if self.encoder is None else self.encoder(x, generator=generator)

    # -- checkpoints ------------------------------------------------------------------
    def _payload(
        self,
        epoch_loss: tuple[float, int, int, int] | None = None,
        term_sums: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        """The checkpoint's content; ``epoch_loss``: the running train loss and accuracy
        (loss sum, batch count, correct, seen) over all processes, ``term_sums`` the
        method's term sums over them; this process's own when not given."""
        loss_sum, loss_count, correct, seen = (
            self._own_epoch_sums() if epoch_loss is None else epoch_loss
        )
        terms = dict(self.term_sums) if term_sums is None else term_sums
        return {
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "method": self.method.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "position": vars(self.position).copy(),
            "epoch_loss": {
                "sum": loss_sum,
                "count": loss_count,
                "correct": correct,
                "seen": seen,
                "terms": terms,
            },
            "history": self.history,
            "train_seconds": self.train_seconds(),
            "best_accuracy": self.best_accuracy,
            "epochs_without_improvement": self.epochs_without_improvement,
            "torch_rng": torch.get_rng_state(),
        }

    def train_seconds(self) -> float:
        """Wall seconds spent training this run so far, summed over every ``fit`` call
        that worked on it (a resumed run counts the time before its stop too)."""
        running = 0.0
        if self._counting_since is not None:
            running = time.perf_counter() - self._counting_since
        return self.seconds_before + running

    def _own_epoch_sums(self) -> tuple[float, int, int, int]:
        return self.loss_sum, self.loss_count, self.correct_count, self.seen_count

    def _epoch_loss(self) -> tuple[float, int, int, int]:
        """The epoch's loss sum, batch count, correct predictions and samples over all
        processes (a collective)."""
        if not self.dist.enabled:
            return self._own_epoch_sums()
        sums = torch.tensor(self._own_epoch_sums(), dtype=torch.float64)
        total, count, correct, seen = all_reduce_sum(sums.to(self.device), self.dist).tolist()
        return total, int(count), int(correct), int(seen)

    def _epoch_terms(self) -> dict[str, float]:
        """The method's term sums over the epoch's batches of all processes (a collective;
        every process holds the same keys)."""
        if not self.dist.enabled or not self.term_sums:
            return dict(self.term_sums)
        keys = sorted(self.term_sums)
        sums = torch.tensor([self.term_sums[k] for k in keys], dtype=torch.float64)
        totals = all_reduce_sum(sums.to(self.device), self.dist).tolist()
        return dict(zip(keys, totals, strict=True))

    def save(self, name: str = "last.pt") -> Path:
        """Write a checkpoint (rank 0 only; the others hold identical state).

        Call it on every process: the epoch's running train loss is summed over them.
        """
        path = self.run_dir / name
        epoch_loss = self._epoch_loss()  # collectives: before the rank test
        term_sums = self._epoch_terms()
        if self.dist.is_main:
            save_checkpoint(path, self._payload(epoch_loss, term_sums))
        return path

    def restore(self, path: str | Path) -> None:
        """Continue from a checkpoint written by :meth:`save`."""
        payload = load_checkpoint(path, require=RESUME_ENTRIES)
        self._check_continuation(payload, path)
        load_model_state(self.model, payload["model"], str(path))
        self.method.load_state_dict(payload["method"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.schedule.load_state_dict(payload["schedule"])
        if payload.get("scaler"):
            self.scaler.load_state_dict(payload["scaler"])
        self.position = Position(**payload["position"])
        # Checkpoints from before train_loss was logged lack it: the mean then covers
        # only the batches after the resume.
        epoch_loss = payload.get("epoch_loss") or {"sum": 0.0, "count": 0}
        main = self.dist.is_main  # the checkpoint holds the sum over all processes
        self.loss_sum = float(epoch_loss["sum"]) if main else 0.0
        self.loss_count = int(epoch_loss["count"]) if main else 0
        # from before train accuracy was logged: it then covers the batches after the resume
        self.correct_count = int(epoch_loss.get("correct", 0)) if main else 0
        self.seen_count = int(epoch_loss.get("seen", 0)) if main else 0
        # every process keeps the keys (the sums are collective), only rank 0 the values
        terms = epoch_loss.get("terms", {})
        self.term_sums = {k: float(v) if main else 0.0 for k, v in terms.items()}
        self.history = list(payload["history"])
        # checkpoints from before train_seconds: the time up to the last finished epoch
        last = self.history[-1]["seconds"] if self.history else 0.0
        self.seconds_before = float(payload.get("train_seconds", last))
        self.best_accuracy = float(payload["best_accuracy"])
        self.epochs_without_improvement = int(payload["epochs_without_improvement"])
        torch.set_rng_state(payload["torch_rng"])
        self.log.rewrite(self.history)

    def _check_continuation(self, payload: dict[str, Any], path: str | Path) -> None:
        """Refuse to resume mid-epoch with settings that decide the epoch's batches: the
        resumed run would skip or repeat samples."""
        if not int(payload.get("position", {}).get("batch", 0)):
            return
        saved = payload.get("config", {})
        keys = (("data", "batch_size"), ("data", "name"), ("train", "seed"))
        now = {(section, key): getattr(getattr(self.config, section), key) for section, key in keys}
        changed = [
            f"{section}.{key} {saved[section][key]!r} -> {now[section, key]!r}"
            for section, key in keys
            if key in saved.get(section, {}) and saved[section][key] != now[section, key]
        ]
        if changed:
            raise CheckpointError(
                f"{path} stopped in the middle of an epoch; resuming with changed "
                f"{', '.join(changed)} would skip or repeat samples: resume without "
                "changing them"
            )

    # -- loop -------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train to ``config.train.epochs`` (or ``max_steps``, after which ``last.pt``
        holds the place); returns the final metrics.

        ``resume``: continue from ``last.pt``, which is loaded and checked before anything
        in the run directory is written. Ctrl-C / SIGTERM stop the run at the next safe
        point with ``last.pt`` written (:class:`~.interrupts.TrainingInterruptedError`).
        """
        cfg = self.config.train
        if resume:
            self.restore(self.run_dir / "last.pt")
        elif cfg.deterministic:
            torch.manual_seed(cfg.seed)
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            config_text = yaml.safe_dump(self.config.to_dict())
            tmp = self.run_dir / ".config.yaml.tmp"
            tmp.write_text(config_text)
            tmp.replace(self.run_dir / "config.yaml")
        self._counting_since = time.perf_counter()
        with deferred_interrupts() as self._stop:
            try:
                while self.position.epoch < cfg.epochs:
                    if cfg.max_steps is not None and self.position.step >= cfg.max_steps:
                        break
                    if not self._train_epoch():  # stopped by max_steps: keep the place
                        self.save()
                        break
                    if self._end_epoch(self.train_seconds()):
                        break
                    self._check_stop()
            except _StopNowError:
                self.save()
                raise TrainingInterruptedError(
                    self.run_dir, self.position.epoch + 1, self.position.step, self._stop.name
                ) from None
            finally:
                self._stop = None
                self.seconds_before, self._counting_since = self.train_seconds(), None
        return self.history[-1] if self.history else {}

    def _check_stop(self, collective: bool = True) -> None:
        """Raise :class:`_StopNowError` at a safe point when a signal asked to stop. Under
        several processes the request is combined (one scalar all-reduce), so that all
        stop at the same step; ``collective=False`` (points that ranks do not reach in
        step, such as evaluation batches) checks only when not distributed."""
        if self._stop is None:
            return
        requested = self._stop.requested
        if self.dist.enabled:
            if not collective:
                return
            flag = torch.tensor([1.0 if requested else 0.0], dtype=torch.float64)
            requested = bool(all_reduce_sum(flag.to(self.device), self.dist).item() > 0)
            if requested and not self._stop.requested:
                self._stop.signal = int(signal.SIGINT)  # another rank's signal
        if requested:
            raise _StopNowError

    def _train_epoch(self) -> bool:
        """Train the rest of the current epoch; whether all its batches are done."""
        cfg, pos = self.config.train, self.position
        self.model.train()
        self.method.on_epoch_start(pos.epoch, cfg.epochs)
        batches = self._batch_indices(pos.epoch)
        bar = progress(
            len(batches),
            f"epoch {pos.epoch + 1}/{cfg.epochs}",
            enabled=cfg.progress and self.dist.is_main,
            initial=pos.batch,
            leave=False,
        )
        with bar:
            while pos.batch < len(batches):
                if cfg.max_steps is not None and pos.step >= cfg.max_steps:
                    return False
                self._train_batch(batches[pos.batch])
                bar.set_postfix(loss=self.loss_sum / self.loss_count)
                bar.update(1)
                if cfg.checkpoint_every and pos.step % cfg.checkpoint_every == 0:
                    self.save()
                self._check_stop()
        # The epoch's end: evaluation and the checkpoint see the schedules at (epoch+1)/E.
        set_progress(self.scheduled, training_progress(pos.epoch + 1, 0, 1, cfg.epochs))
        return True

    def _train_batch(self, indices: torch.Tensor) -> None:
        """One optimiser step on the global batch ``indices`` (this process's share)."""
        cfg, pos = self.config.train, self.position
        x, y = self._load(self.train_set, shard(indices, self.dist))
        generator = torch.Generator().manual_seed(
            _mix(cfg.seed, pos.epoch, pos.batch, 1, self.dist.rank)
        )
        if self.augment is not None:  # before encoding: every step shows the same view
            x = self.augment(x, generator)
        inputs, y = self.encode(x, generator), y.to(self.device)
        set_progress(
            self.scheduled,
            training_progress(pos.epoch, pos.batch, self.steps_per_epoch, cfg.epochs),
        )
        # before the method runs: online methods backpropagate inside it, step by step
        self.optimizer.zero_grad(set_to_none=True)
        # train.memory: what the forward keeps for backward (the backward may run later,
        # outside the context, or inside the method for methods that call it themselves)
        with (
            torch.autocast(self.device.type, dtype=torch.float16, enabled=cfg.amp),
            memory_mode(self.model, cfg.memory),
        ):
            terms = self.method(self.train_model, inputs, y)
        loss = terms["loss"]
        if not torch.isfinite(loss):
            last = self.run_dir / "last.pt"
            kept = f"the last checkpoint {last} is kept"
            kept = kept if last.is_file() else "no checkpoint was written yet"
            raise TrainingError(
                f"non-finite loss {loss.item()} at epoch {pos.epoch + 1}, batch {pos.batch}; "
                f"lower optim.lr or enable optim.grad_clip; {kept}"
            )
        if not getattr(self.method, "backpropagates", False):
            self.scaler.scale(loss).backward()
        average_gradients(self.method_params, self.dist)  # DDP covers only the model
        if self.config.optim.grad_clip:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not scaled ones
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.step()
        self.loss_sum += loss.detach().item()
        self.loss_count += 1
        if self.method.classifies:
            self._count_correct(terms["output"], y)
        for key, value in _logged_terms(terms).items():
            self.term_sums[key] = self.term_sums.get(key, 0.0) + value
        pos.batch += 1
        pos.step += 1

    def _count_correct(self, output: torch.Tensor, y: torch.Tensor) -> None:
        """Add the batch's correct predictions, scored from the training forward's output by
        :meth:`evaluate`'s decoder (train mode: the accuracy the optimiser saw)."""
        if self._train_decoder is None:
            self._train_decoder = build_decoder(self.config, self.model, self.method)
        with torch.no_grad():
            predicted = self._train_decoder.predict(output.detach())
        self.correct_count += int((predicted == y).sum())
        self.seen_count += len(y)

    def _end_epoch(self, seconds: float) -> bool:
        """Evaluate, log, checkpoint; returns whether to stop early."""
        cfg, pos = self.config.train, self.position
        loss_sum, loss_count, correct, seen = self._epoch_loss()
        train_loss = loss_sum / loss_count if loss_count else float("nan")
        term_means = {f"train_{k}": v / loss_count for k, v in self._epoch_terms().items()}
        evaluated = pos.epoch + 1 == cfg.epochs or (pos.epoch + 1) % cfg.eval_every == 0
        metrics = self.evaluate(self.test_set) if evaluated else None
        record = {
            "epoch": pos.epoch + 1,
            "step": pos.step,
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_loss": train_loss,  # the mean of the epoch's batch losses
            # the epoch's training predictions (train mode, on the augmented inputs)
            "train_acc": correct / seen if seen else float("nan"),
            **(term_means if loss_count else {}),
            "seconds": round(seconds, 2),
        }
        if metrics is not None:  # both accuracies dropped below without classes
            record.update(test_loss=metrics["loss"], test_acc=metrics["accuracy"])
            record["firing_rates"] = metrics["firing_rates"]
        schedules = schedule_values(self.scheduled)  # e.g. {"layer1.0.sn1.mask_progress": λ}
        if schedules:
            record["schedules"] = schedules
        epoch_values = getattr(self.method, "epoch_values", None)  # e.g. regularizer means
        if callable(epoch_values):
            record.update(epoch_values())
        classifies = self.method.classifies
        for key in () if classifies else ("train_acc", "test_acc"):
            record.pop(key, None)
        self.history.append(record)
        if cfg.progress and self.dist.is_main:
            tested = "" if metrics is None else f"test loss {metrics['loss']:.4f}  "
            tested += f"test acc {metrics['accuracy']:.4f}  " if metrics and classifies else ""
            print(
                f"epoch {pos.epoch + 1:3d}/{cfg.epochs}  train loss {train_loss:.4f}  "
                f"{tested}({seconds:.1f} s)",
                flush=True,
            )
        # Judged only when tested, and not while a schedule still ramps (masked PSN's λ < 1:
        # not the final network): no best checkpoint is picked, early stopping does not count.
        ramped = metrics is not None and schedules_finished(self.scheduled)
        score = (metrics["accuracy"] if classifies else -metrics["loss"]) if ramped else 0.0
        improved = ramped and score > self.best_accuracy
        if improved:
            self.best_accuracy = score
            self.epochs_without_improvement = 0
        elif ramped:
            self.epochs_without_improvement += 1
        pos.epoch += 1
        pos.batch = 0
        self.loss_sum, self.loss_count = 0.0, 0
        self.correct_count, self.seen_count = 0, 0
        self.term_sums = dict.fromkeys(self.term_sums, 0.0)
        self.save()
        if improved:
            self.save("best.pt")
        if self.dist.is_main:  # after the checkpoint: metrics never hold an unsaved epoch
            self.log.append(record)
        patience = cfg.early_stopping_patience
        return patience is not None and self.epochs_without_improvement >= patience

    @torch.no_grad()
    def evaluate(self, dataset: Dataset) -> dict[str, Any]:
        """Test loss, accuracy (``None`` for a method that does not classify) and
        per-layer firing rates on ``dataset``.

        Accuracy is scored by ``model.decoder`` (:func:`~.build.build_decoder`; ``None``:
        the objective's own readout, e.g. the membrane's time mean for ``ce_membrane``,
        first-spike times for ``ce_temporal``); ``"decoder"`` names the one used.
        """
        self.model.eval()
        decoder = build_decoder(self.config, self.model, self.method)
        monitor = FiringRateMonitor(self.model)
        size = self.config.data.eval_batch_size
        total_loss, correct, seen = 0.0, 0, 0
        # Each rank evaluates every world-th sample; sums are combined below.
        mine = torch.arange(self.dist.rank, len(dataset), self.dist.world)
        batches = progress(
            mine.split(size),
            "evaluate",
            enabled=self.config.train.progress and self.dist.is_main,
            leave=False,
        )
        with monitor.record():
            for i, idx in enumerate(batches):
                self._check_stop(collective=False)
                x, y = self._load(dataset, idx)
                generator = torch.Generator().manual_seed(
                    _mix(self.config.train.seed, -1, i, self.dist.rank)
                )
                inputs, y = self.encode(x, generator), y.to(self.device)
                terms = self.method(self.model, inputs, y)
                total_loss += float(terms["loss"]) * len(y)
                correct += int((decoder.predict(terms["output"]) == y).sum())
                seen += len(y)
        self.model.train()
        names = list(monitor.rates())
        sums = torch.tensor(
            [total_loss, correct, seen, *(monitor.rates()[n] * seen for n in names)],
            dtype=torch.float64,
        )
        # on the run's device: NCCL reduces CUDA tensors only
        sums = all_reduce_sum(sums.to(self.device), self.dist).tolist()
        return {
            "loss": sums[0] / sums[2],
            "accuracy": sums[1] / sums[2] if self.method.classifies else None,
            "firing_rates": {n: v / sums[2] for n, v in zip(names, sums[3:], strict=True)},
            "decoder": decoder_name(self.config),
        }
