r"""Response-based ANN→SNN distillation (KDSNN, Xu et al., CVPR 2023; METHODS §7.1), and
the frozen-teacher base class the other distillation methods share.

Teacher input: the student receives ``inputs`` ``[T, B, ...]``; the teacher receives the
static image ``inputs.mean(0)`` ``[B, ...]``. For direct encoding (every step = the image)
this *is* the image; for Poisson coding (``signed=True`` included) it is an unbiased
estimate of it (``E[S[t]] = x``), noisier at small T.

Student logits: ``z_s = output.mean(0)`` — the mean readout membrane for a
non-spiking readout (``ce_membrane``) or the firing rate for a spiking one (``ce_rate``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..base import METHODS, Method
from .losses import kd_kl

STUDENT_OBJECTIVES = ("ce_membrane", "ce_rate")


def check_pairs(pairs: object, method: str) -> list[tuple[str, str]]:
    """``[("teacher_layer", "student_layer"), ...]`` (tuples or 2-lists), at least one."""
    if isinstance(pairs, str | bytes) or not isinstance(pairs, Sequence) or not pairs:
        raise ValueError(
            f"{method} needs pairs=[('teacher_layer', 'student_layer'), ...] (at least one), "
            f"got {pairs!r}"
        )
    out = []
    for pair in pairs:
        if (
            isinstance(pair, str)
            or not isinstance(pair, Sequence)
            or len(pair) != 2
            or not all(isinstance(name, str) for name in pair)
        ):
            raise ValueError(
                f"{method}: each pair must be (teacher_layer: str, student_layer: str), "
                f"got {pair!r}"
            )
        out.append((pair[0], pair[1]))
    return out


class TeacherMethod(Method):
    """A method with a frozen ANN teacher stored on it (so it is checkpointed).

    The teacher is frozen at construction (``requires_grad_(False)``) and always kept
    in eval mode (:meth:`train` leaves it in eval, so its BatchNorm statistics and
    dropout never change). :meth:`parameters` yields only trainable parameters —
    adapters, never the teacher — so the optimiser the Trainer builds from
    ``model.parameters() + method.parameters()`` holds no frozen tensor;
    :meth:`state_dict` still contains the teacher (and ``named_parameters()`` still
    lists its frozen parameters; only :meth:`parameters` filters them).

    Args:
        teacher: the ANN, ``[B, C, H, W]`` -> ``[B, K]``.
        objective: the student's task objective name, ``"ce_membrane"`` or ``"ce_rate"``
            (both reduce to cross-entropy on ``output.mean(0)``).
        label_smoothing: for the student's cross-entropy.
    """

    needs_teacher = True

    def __init__(
        self,
        teacher: nn.Module | None,
        objective: str = "ce_membrane",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if teacher is None:
            raise ValueError(
                f"{name} needs teacher=<a trained ANN nn.Module, [B, C, H, W] -> [B, K]>, got None"
            )
        if not isinstance(teacher, nn.Module):
            raise TypeError(f"{name} teacher must be an nn.Module, got {type(teacher).__name__}")
        if objective not in STUDENT_OBJECTIVES:
            raise ValueError(
                f"{name} objective must be one of {STUDENT_OBJECTIVES} (cross-entropy on "
                f"output.mean(0)), got {objective!r}"
            )
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {label_smoothing}")
        teacher.requires_grad_(False)
        teacher.eval()
        self.teacher = teacher
        self.objective = objective
        self.label_smoothing = float(label_smoothing)

    def train(self, mode: bool = True) -> TeacherMethod:
        super().train(mode)
        self.teacher.eval()
        return self

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        """Trainable parameters only (the frozen teacher's are left out)."""
        return (p for p in super().parameters(recurse) if p.requires_grad)

    @staticmethod
    def teacher_input(inputs: torch.Tensor) -> torch.Tensor:
        """``[T, B, ...]`` -> the static image ``[B, ...]`` (mean over T)."""
        if inputs.dim() < 3:
            raise ValueError(
                f"student inputs must be [T, B, ...] (time first), got {tuple(inputs.shape)}"
            )
        return inputs.mean(0)

    def teacher_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Frozen teacher forward under ``no_grad``: ``[B, ...]`` -> ``[B, K]``."""
        with torch.no_grad():
            return self.teacher(images)

    def task_loss(self, output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``CE(output.mean(0), y)`` for the student's ``[T, B, K]`` output."""
        return F.cross_entropy(output.mean(0), targets, label_smoothing=self.label_smoothing)


@METHODS.register("kd")
class ResponseKD(TeacherMethod):
    r"""``L = (1 − α) CE(z_s, y) + α τ² KL(softmax(z_t/τ) ‖ softmax(z_s/τ))``.

    Returns ``{"loss", "output" [T, B, K], "ce", "kd"}`` where ``kd`` is the unweighted
    ``τ² KL`` term.

    Args:
        teacher: frozen ANN.
        pairs: unused (response KD reads no hidden layer); must be empty or ``None``.
        tau: temperature ``τ ≥ 1``.
        alpha: soft-target weight ``α ∈ [0, 1]``.
        objective, label_smoothing: see :class:`TeacherMethod`.
    """

    def __init__(
        self,
        teacher: nn.Module | None = None,
        pairs: Sequence[tuple[str, str]] | None = None,
        tau: float = 4.0,
        alpha: float = 0.5,
        objective: str = "ce_membrane",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(teacher, objective, label_smoothing)
        if pairs:
            raise ValueError(f"kd (response KD) uses no layer pairs, got pairs={pairs!r}")
        if tau < 1.0:
            raise ValueError(f"tau must be >= 1, got {tau}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        self.tau, self.alpha = float(tau), float(alpha)

    def forward(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        z_t = self.teacher_logits(self.teacher_input(inputs))
        output = model(inputs)
        ce = self.task_loss(output, targets)
        kd = kd_kl(output.mean(0), z_t, self.tau)
        loss = (1.0 - self.alpha) * ce + self.alpha * kd
        return {"loss": loss, "output": output, "ce": ce.detach(), "kd": kd.detach()}
