r"""Joint A-SNN training (Guo et al., Pattern Recognition 2023; METHODS §7.4).

Self-distillation inside one :class:`~spikeforge.models.joint.JointCSNN` (model
``joint_csnn``): the ANN and SNN paths share ``U``, ``V`` and keep their own ``Σ``; per
branch ``i`` (after every stage)::

    L = Σ_i [CE(z_ann_i, y) + CE(z_snn_i, y)]
        + λ₁ Σ_i τ² KL(softmax(z_ann_i.detach()/τ) ‖ softmax(z_snn_i/τ))
        + λ₂ Σ_i mean((f_ann_i − f_snn_i)²)

with ``z_snn_i`` the time-mean branch logits and ``f_snn_i`` the time-mean stage spikes
(firing rates). The KL's ANN side is detached (the SNN imitates the ANN, the ANN is not
pulled toward the SNN by it); the L2 term is not detached, so it pulls both paths
together. The method has no external teacher: the ANN path is the teacher.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...models.joint import JointCSNN
from ..base import METHODS, Method
from .features import unwrap
from .losses import joint_asnn_loss


@METHODS.register("joint_asnn")
class JointASNN(Method):
    """Joint A-SNN self-distillation: a JointCSNN's ANN path teaches its SNN path.

    Returns ``{"loss", "output" [T, B, K] (SNN, last branch), "ce", "kl", "l2"}``.

    Args:
        teacher: must be ``None`` (self-distillation; accepted so every distillation
            method has the same factory signature).
        pairs: must be empty or ``None`` (every stage is a branch).
        lambda_kl: ``λ₁``.
        lambda_l2: ``λ₂``.
        tau: temperature of the KL term (1 = plain softmax).
        objective: accepted for the engine's factory call; must be ``"ce_membrane"`` or
            ``"ce_rate"`` (both: CE on the time-mean logits).
        label_smoothing: must be 0 (not supported here).
    """

    def __init__(
        self,
        teacher: nn.Module | None = None,
        pairs: Sequence[tuple[str, str]] | None = None,
        lambda_kl: float = 1.0,
        lambda_l2: float = 1.0,
        tau: float = 1.0,
        objective: str = "ce_membrane",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if teacher is not None:
            raise ValueError(
                "joint_asnn is self-distillation (its ANN path is the teacher); expected "
                f"teacher=None, got {type(teacher).__name__}"
            )
        if pairs:
            raise ValueError(
                f"joint_asnn uses every stage as a branch; expected no pairs, got {pairs!r}"
            )
        if lambda_kl < 0 or lambda_l2 < 0:
            raise ValueError(
                f"lambda_kl and lambda_l2 must be >= 0, got {lambda_kl} and {lambda_l2}"
            )
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        if objective not in ("ce_membrane", "ce_rate"):
            raise ValueError(
                f"joint_asnn objective must be 'ce_membrane' or 'ce_rate', got {objective!r}"
            )
        if label_smoothing:
            raise ValueError(f"joint_asnn does not support label_smoothing, got {label_smoothing}")
        self.lambda_kl, self.lambda_l2, self.tau = float(lambda_kl), float(lambda_l2), float(tau)

    def forward(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        if not isinstance(unwrap(model), JointCSNN):
            raise TypeError(
                "joint_asnn trains a two-path JointCSNN (model.name=joint_csnn), got "
                f"{type(unwrap(model)).__name__}"
            )
        out = model(inputs, joint=True)
        terms = joint_asnn_loss(
            [z.mean(0) for z in out["snn_logits"]],
            out["ann_logits"],
            [f.mean(0) for f in out["snn_features"]],
            out["ann_features"],
            targets,
            self.lambda_kl,
            self.lambda_l2,
            self.tau,
        )
        return {
            "loss": terms["loss"],
            "output": out["snn_logits"][-1],
            **{k: v.detach() for k, v in terms.items() if k != "loss"},
        }
