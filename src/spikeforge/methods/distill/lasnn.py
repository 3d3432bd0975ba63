r"""LaSNN: layer-wise attention distillation from an ANN to an SNN (Hong et al., 2023;
METHODS §7.3), the distillation stage (stage 3) of the LaSNN pipeline.

Per layer pair ``l`` (teacher layer, student layer; three pairs = low / mid / high
level, each weighted by ``λ_l``)::

    activation:  Q_T = norm(F(A_T)),  Q_S = norm(F(A_S)),  F(A) = Σ_c |A_c|²
    gradient:    Q_T = norm(Σ_c |∂L_T/∂x_c|),  Q_S = norm(SAM(S))
    L_AT,l = mean_b ‖Q_T − Q_S‖₂

    L = (1 − α) CE(z_s, y) + α τ² KL(p_t^τ ‖ p_s^τ) + (β/2) Σ_l λ_l L_AT,l

``A_S`` is the student layer's firing rate (time mean of its output) or, with
``student_features="membrane"``, its time-mean input current (see :mod:`.features`);
``A_T`` the teacher layer's output. The teacher's gradient map is taken with respect
to its input (``teacher_gradient="input"``, the spec's input sensitivity: one map,
resized to each student level) or to the teacher layer's activation
(``teacher_gradient="layer"``, ``Σ_c |∂L_T/∂A_T,c|``). ``L_T = Σ_b CE(teacher(x_b), y_b)``.
SAM needs the student layer's **spikes**: name a spiking layer for the gradient scheme.
Whenever teacher and student maps differ in H×W, the (detached) teacher map is resized
to the student's (area averaging when shrinking, bilinear otherwise) before normalising.
``attention="both"`` adds the two schemes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..base import METHODS
from .features import capture, student_forward, teacher_forward
from .losses import (
    activation_map,
    attention_loss,
    gradient_map,
    kd_kl,
    normalize_map,
    resize_map,
    spike_activation_map,
)
from .response import TeacherMethod, check_pairs

ATTENTIONS = ("activation", "gradient", "both")
TEACHER_GRADIENTS = ("input", "layer")


@METHODS.register("lasnn")
class LaSNN(TeacherMethod):
    """Layer-wise attention distillation plus response KD.

    Returns ``{"loss", "output" [T, B, K], "ce", "kd", "at", "at_0", "at_1", ...}``
    (``at`` = ``Σ_l λ_l L_AT,l``; ``kd`` the unweighted ``τ² KL``).

    Args:
        teacher: frozen ANN.
        pairs: ``[(teacher_layer, student_layer), ...]`` (e.g. low, mid, high), with
            features ``[B, C, H, W]``.
        weights: ``λ_l`` per pair (default all 1).
        beta: ``β`` (the attention term is weighted ``β/2``).
        tau, alpha: response KD temperature ``τ ≥ 1`` and weight ``α ∈ [0, 1]``.
        attention: ``"activation"``, ``"gradient"`` or ``"both"``.
        student_features: ``"rate"`` or ``"membrane"`` (activation scheme).
        gamma: SAM decay ``γ ≥ 0`` (gradient scheme).
        p: exponent of ``F(A) = Σ_c |A_c|^p``.
        teacher_gradient: ``"input"`` or ``"layer"`` (gradient scheme).
        objective, label_smoothing: see :class:`~.response.TeacherMethod`.
    """

    needs_pairs = True

    def __init__(
        self,
        teacher: nn.Module | None = None,
        pairs: Sequence[tuple[str, str]] = (),
        weights: Sequence[float] | None = None,
        beta: float = 1.0,
        tau: float = 4.0,
        alpha: float = 0.5,
        attention: str = "activation",
        student_features: str = "rate",
        gamma: float = 0.5,
        p: float = 2.0,
        teacher_gradient: str = "input",
        objective: str = "ce_membrane",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(teacher, objective, label_smoothing)
        self.pairs = check_pairs(pairs, "lasnn")
        weights = [1.0] * len(self.pairs) if weights is None else [float(w) for w in weights]
        if len(weights) != len(self.pairs) or any(w < 0 for w in weights):
            raise ValueError(
                f"weights must give one λ >= 0 per pair ({len(self.pairs)}), got {weights}"
            )
        checks = (
            (attention in ATTENTIONS, f"attention must be one of {ATTENTIONS}, got {attention!r}"),
            (
                teacher_gradient in TEACHER_GRADIENTS,
                f"teacher_gradient must be one of {TEACHER_GRADIENTS}, got {teacher_gradient!r}",
            ),
            (
                student_features in ("rate", "membrane"),
                f"student_features must be 'rate' or 'membrane', got {student_features!r}",
            ),
            (tau >= 1.0, f"tau must be >= 1, got {tau}"),
            (0.0 <= alpha <= 1.0, f"alpha must lie in [0, 1], got {alpha}"),
            (beta >= 0.0, f"beta must be >= 0, got {beta}"),
            (gamma >= 0.0, f"gamma must be >= 0, got {gamma}"),
            (p > 0.0, f"p must be > 0, got {p}"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        self.weights = weights
        self.beta, self.tau, self.alpha = float(beta), float(tau), float(alpha)
        self.attention, self.student_features = attention, student_features
        self.gamma, self.p, self.teacher_gradient = float(gamma), float(p), teacher_gradient

    @property
    def uses_gradient(self) -> bool:
        return self.attention in ("gradient", "both")

    @property
    def uses_activation(self) -> bool:
        return self.attention in ("activation", "both")

    def teacher_pass(
        self, images: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], list[torch.Tensor]]:
        """Teacher logits ``[B, K]``, features per teacher layer, and (gradient scheme)
        one un-normalised gradient map ``[B, H, W]`` per pair; all detached.

        The activation-only scheme runs under ``no_grad``. The gradient scheme runs once
        under ``enable_grad`` with the input requiring grad (so it also works inside the
        Trainer's ``no_grad`` evaluation); the teacher's own parameters are frozen and
        receive nothing.
        """
        names = [t for t, _ in self.pairs]
        if not self.uses_gradient:
            logits, feats = teacher_forward(self.teacher, images, names)
            return logits, feats, []
        with torch.enable_grad():
            x = images.detach().requires_grad_(True)
            with capture(self.teacher, names) as feats:
                logits = self.teacher(x)
            loss = F.cross_entropy(logits, targets, reduction="sum")
            wrt = [x] if self.teacher_gradient == "input" else [feats[n] for n in names]
            grads = torch.autograd.grad(loss, wrt)
        if self.teacher_gradient == "input":
            maps = [gradient_map(grads[0])] * len(names)
        else:
            maps = [gradient_map(g) for g in grads]
        detached = {name: value.detach() for name, value in feats.items()}
        return logits.detach(), detached, [m.detach() for m in maps]

    def forward(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        z_t, t_feats, t_grad_maps = self.teacher_pass(self.teacher_input(inputs), targets)
        output, s_feats, s_outs = student_forward(
            model, inputs, [s for _, s in self.pairs], self.student_features
        )
        terms: dict[str, torch.Tensor] = {}
        at = output.new_zeros(())
        for i, ((t_name, s_name), weight) in enumerate(zip(self.pairs, self.weights, strict=True)):
            level = output.new_zeros(())
            if self.uses_activation:
                s_map = activation_map(_conv_feature(s_feats[s_name], s_name, "student"), self.p)
                t_map = activation_map(_conv_feature(t_feats[t_name], t_name, "teacher"), self.p)
                level = level + _map_loss(s_map, t_map)
            if self.uses_gradient:
                spikes = s_outs[s_name]
                if spikes.dim() != 5:
                    raise ValueError(
                        f"gradient attention needs student spikes [T, B, C, H, W] at "
                        f"{s_name!r}, got {tuple(spikes.shape)}"
                    )
                s_map = spike_activation_map(spikes, self.gamma)
                level = level + _map_loss(s_map, t_grad_maps[i])
            terms[f"at_{i}"] = level.detach()
            at = at + weight * level
        z_s = output.mean(0)
        ce = self.task_loss(output, targets)
        kd = kd_kl(z_s, z_t, self.tau)
        loss = (1.0 - self.alpha) * ce + self.alpha * kd + 0.5 * self.beta * at
        return {
            "loss": loss,
            "output": output,
            "ce": ce.detach(),
            "kd": kd.detach(),
            "at": at.detach(),
            **terms,
        }


def _conv_feature(x: torch.Tensor, name: str, who: str) -> torch.Tensor:
    if x.dim() != 4:
        raise ValueError(
            f"attention maps need conv features [B, C, H, W]; {who} layer {name!r} gave "
            f"{tuple(x.shape)}"
        )
    return x


def _map_loss(s_map: torch.Tensor, t_map: torch.Tensor) -> torch.Tensor:
    """``L_AT`` between un-normalised maps ``[B, H, W]``; the teacher map is resized."""
    t_map = resize_map(t_map.detach(), s_map.shape[-2:])
    return attention_loss(normalize_map(s_map), normalize_map(t_map))
