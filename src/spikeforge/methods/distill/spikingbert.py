r"""TinyBERT-style distillation of a transformer ANN into SpikingBERT (METHODS §12), and
the text training loop that every stage of ``spikeforge run spikingbert`` uses.

Layer mapping: with ``N`` teacher and ``M`` student layers (``N = r·M``), student layer
``k`` learns from teacher layer ``r·k`` (``k = 0`` the embedding output for hidden
states; attention of student layer ``k ≥ 1`` from teacher layer ``r·k``).

Losses (sums over the mapped layers of per-layer means):

- attention: ``MSE(S_s, S_t)`` on the **pre-softmax** scores with every entry ``≤ −100``
  (the −10000 mask) set to 0 in both — the student's scores come from the steady-state
  map ``f`` at the spiking rates. Head counts: TinyBERT's loss is per head, so its
  students keep the teacher's head count (TinyBERT-4: 12 heads, like BERT-base). Here a
  student may have fewer heads than its teacher (MiniLM's 12 against the default
  student's 4): when ``H_t = g·H_s`` the teacher's masked scores are averaged over each
  group of ``g`` consecutive heads (:func:`group_heads`) — one target per student head, of
  the same scale (``Q·Kᵀ/√d_h`` with the same ``d_h = 32`` in both for MiniLM's 384/12
  and the student's 128/4), at no cost in student size;
- hidden: ``MSE(W_Td·a_k, h_t[r·k])``, ``W_Td`` a learned ``Linear(H_s, H_t)``;
- prediction: ``mean(−softmax(z_t/τ)·log_softmax(z_s/τ))``, a mean over batch *and*
  classes (as TinyBERT's code), τ = 1.

Stages: ``"internal"`` (attention + hidden), ``"prediction"`` (soft CE), ``"supervised"``
(cross-entropy on labels: the teacher's own training and the no-teacher student). The
teacher runs in ``eval`` mode under ``no_grad`` with ``requires_grad`` off: it never gets
a gradient.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from ..._validation import check_choice
from ...models.spiking_bert import SpikingBert, mean_rates, operation_counts

STAGES = ("supervised", "internal", "prediction")
MASKED_SCORE = -100.0


def layer_map(student_layers: int, teacher_layers: int) -> list[int]:
    """Teacher hidden-state index for student indices ``0..M`` (0: embeddings):
    ``[0, r, 2r, …, N]`` with ``r = N / M``; ``N`` must be a multiple of ``M``."""
    if student_layers < 1 or teacher_layers % student_layers:
        raise ValueError(
            f"teacher layers ({teacher_layers}) must be a multiple of student layers "
            f"({student_layers})"
        )
    ratio = teacher_layers // student_layers
    return [ratio * k for k in range(student_layers + 1)]


def mask_scores(scores: torch.Tensor) -> torch.Tensor:
    """``scores`` with entries ``≤ −100`` (masked keys) set to 0."""
    return torch.where(scores <= MASKED_SCORE, torch.zeros_like(scores), scores)


def group_heads(scores: torch.Tensor, heads: int) -> torch.Tensor:
    """Scores ``[B, H_t, L, L]`` -> ``[B, heads, L, L]``: the mean of each group of
    ``H_t / heads`` consecutive heads (head ``h`` of the result: heads ``h·g … h·g+g−1``)."""
    b, h_t, *rest = scores.shape
    if heads < 1 or h_t % heads:
        raise ValueError(
            f"teacher heads ({h_t}) must be a multiple of student heads ({heads}) to "
            "average them in groups"
        )
    return scores.reshape(b, heads, h_t // heads, *rest).mean(2)


def attention_loss(
    student: list[torch.Tensor], teacher: list[torch.Tensor], mapping: list[int]
) -> torch.Tensor:
    """Σ_k MSE(student scores of layer k, teacher scores of layer ``mapping[k]``), both
    masked by :func:`mask_scores`; scores ``[B, heads, L, L]`` (same L; a teacher with
    ``g×`` the student's heads is averaged in groups of ``g`` after masking,
    :func:`group_heads`)."""
    total = student[0].new_zeros(())
    for k, s in enumerate(student, start=1):
        t = mask_scores(teacher[mapping[k] - 1])
        if s.dim() == t.dim() == 4 and s.shape[1] != t.shape[1] and t.shape[1] % s.shape[1] == 0:
            t = group_heads(t, s.shape[1])
        if s.shape != t.shape:
            raise ValueError(
                f"student layer {k} scores {tuple(s.shape)} vs teacher layer {mapping[k]} "
                f"{tuple(teacher[mapping[k] - 1].shape)}: the attention loss needs equal "
                "lengths, and teacher heads a multiple of student heads"
            )
        total = total + F.mse_loss(mask_scores(s), t)
    return total


def hidden_loss(
    student: list[torch.Tensor],
    teacher: list[torch.Tensor],
    mapping: list[int],
    projection: nn.Module,
) -> torch.Tensor:
    """Σ_k MSE(``projection(student[k])``, ``teacher[mapping[k]]``), k = 0..M."""
    total = student[0].new_zeros(())
    for k, s in enumerate(student):
        total = total + F.mse_loss(projection(s), teacher[mapping[k]])
    return total


def soft_cross_entropy(
    student: torch.Tensor, teacher: torch.Tensor, tau: float = 1.0
) -> torch.Tensor:
    """``mean(−softmax(z_t/τ)·log_softmax(z_s/τ))`` over every element ``[B, C]``."""
    return (-torch.softmax(teacher / tau, -1) * torch.log_softmax(student / tau, -1)).mean()


class SpikingBertDistiller(nn.Module):
    """The stage losses of one student (``W_Td`` lives here, the teacher is frozen).

    Args:
        student: the :class:`SpikingBert` (or any model whose output has ``logits``).
        teacher: a model returning ``logits``, ``hidden`` and ``scores``, or ``None``
            (stage ``"supervised"`` only).
        stage: one of :data:`STAGES`.
        tau: the prediction loss's temperature.
    """

    def __init__(
        self, student: nn.Module, teacher: nn.Module | None, stage: str, tau: float = 1.0
    ) -> None:
        super().__init__()
        self.stage = check_choice(stage, "stage", STAGES)
        if teacher is None and stage != "supervised":
            raise ValueError(f"stage {stage!r} distills from a teacher; got teacher=None")
        self.student, self.tau = student, float(tau)
        self.teacher = [teacher]  # in a list: not a submodule (no parameters, no state_dict)
        self.projection: nn.Module | None = None
        self.mapping: list[int] = []
        if teacher is not None:
            teacher.eval()
            teacher.requires_grad_(False)
            s_hidden = student.classifier.in_features
            t_hidden = teacher.classifier.in_features
            self.projection = nn.Linear(s_hidden, t_hidden)
            self.mapping = layer_map(len(student.layers), len(teacher.layers))

    def loss(
        self, tokens: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The stage's loss on one batch and its parts."""
        out = self.student(tokens, mask)
        if self.stage == "supervised":
            loss = F.cross_entropy(out.logits, labels)
            return loss, {"ce": float(loss.detach())}
        teacher = self.teacher[0]
        assert teacher is not None and self.projection is not None
        with torch.no_grad():
            t = teacher(tokens, mask)
        if self.stage == "prediction":
            loss = soft_cross_entropy(out.logits, t.logits, self.tau)
            return loss, {"soft_ce": float(loss.detach())}
        att = attention_loss(out.scores, t.scores, self.mapping)
        hid = hidden_loss(out.hidden, t.hidden, self.mapping, self.projection)
        return att + hid, {"attention": float(att.detach()), "hidden": float(hid.detach())}


@dataclass
class EpochProgress:
    """Where an epoch stands: batches done, their loss parts summed, and whether it
    stopped early on request (then it resumes from here)."""

    steps: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    stopped: bool = False


def train_epoch(
    distiller: SpikingBertDistiller,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    grad_clip: float | None = 1.0,
    max_batches: int | None = None,
    log: Callable[[str], None] | None = None,
    progress: EpochProgress | None = None,
    stop: Callable[[], bool] | None = None,
    rng_state: torch.Tensor | None = None,
) -> dict[str, float]:
    """One pass over ``loader`` (``(tokens, mask, labels)`` batches); mean loss parts.

    ``progress`` (updated in place) resumes an epoch that stopped: its first
    ``progress.steps`` batches are skipped (the loader's order is fixed per epoch) and
    its sums carried on. ``stop`` is asked before every batch; when it answers true the
    pass ends there with ``progress.stopped`` set. ``rng_state``: the global RNG state
    to continue from, restored after the loader's iterator drew its seed — the draw a
    whole epoch made before the batches that were already done.
    """
    distiller.student.train()
    progress = progress if progress is not None else EpochProgress()
    started = time.perf_counter()
    batches = iter(loader)
    if rng_state is not None:
        torch.set_rng_state(rng_state)
    for step, (tokens, mask, labels) in enumerate(batches):
        if max_batches is not None and step >= max_batches:
            break
        if step < progress.steps:
            continue
        if stop is not None and stop():
            progress.stopped = True
            break
        loss, parts = distiller.loss(tokens, mask, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            params = [p for g in optimizer.param_groups for p in g["params"]]
            nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        for k, v in parts.items():
            progress.sums[k] = progress.sums.get(k, 0.0) + v
        progress.steps += 1
        if log is not None and step % 200 == 0:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in parts.items())
            log(f"  batch {step}/{len(loader)}: {shown} ({time.perf_counter() - started:.0f} s)")
    return {k: v / max(progress.steps, 1) for k, v in progress.sums.items()}


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, t_conv: int | None = None) -> dict[str, Any]:
    """Accuracy on ``loader``; for a :class:`SpikingBert` also its firing rates per
    sub-layer (means over samples) and the operation counts / energy of
    :func:`~spikeforge.models.spiking_bert.operation_counts`. ``t_conv`` overrides the
    model's simulation steps for this evaluation only."""
    model.eval()
    spiking = isinstance(model, SpikingBert)
    saved = model.t_conv if spiking else None
    if spiking and t_conv is not None:
        model.t_conv = t_conv
    correct = total = 0
    rate_sums: dict[str, float] = {}
    ops: dict[str, float] = {}
    try:
        for tokens, mask, labels in loader:
            out = model(tokens, mask)
            correct += int((out.logits.argmax(-1) == labels).sum())
            total += len(labels)
            if spiking:
                for k, v in mean_rates(out.rates, mask).items():
                    rate_sums[k] = rate_sums.get(k, 0.0) + v * len(labels)
                for k, v in operation_counts(model, out.rates, mask).items():
                    ops[k] = ops.get(k, 0.0) + v
    finally:
        if spiking:
            model.t_conv = saved
    result: dict[str, Any] = {"accuracy": correct / max(total, 1), "samples": total}
    if spiking:
        rates = {k: v / total for k, v in rate_sums.items()}
        norm_ops = ops["synaptic_ops"] / ops["ann_ops"]
        result.update(
            t_conv=model.t_conv if t_conv is None else t_conv,
            firing_rates=rates,
            firing_rate=sum(rates.values()) / len(rates),
            norm_ops=norm_ops,
            energy_ratio=5.1 / norm_ops if norm_ops > 0 else float("inf"),
            snn_energy_uj=ops["snn_energy_uj"] / total,
            ann_energy_uj=ops["ann_energy_uj"] / total,
        )
    return result
