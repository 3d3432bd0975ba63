r"""Distillation losses (METHODS §7) as pure functions, plus the feature adapter.

Notation: ``z_s``/``z_t`` student/teacher logits ``[B, K]``, ``y`` labels ``[B]``,
``p^τ = softmax(z/τ)``, ``KL(p ‖ q) = Σ_k p_k (log p_k − log q_k)`` averaged over the batch.

Response KD (KDSNN, §7.1)::

    L = (1 − α) CE(z_s, y) + α τ² KL(p_t^τ ‖ p_s^τ)

Feature KD with margin ReLU and partial L2 (KDSNN §7.2, after Heo et al., ICCV 2019,
"A Comprehensive Overhaul of Feature Distillation")::

    m_c       = E[x_c | x_c < 0]                 (per-channel mean of negative responses)
    σ_m(t)    = max(t, m_c)                      (margin ReLU on the teacher feature)
    d_p(s, t) = Σ_i 0            if s_i ≤ t_i ≤ 0
                    (t_i − s_i)² otherwise       (t = σ_m(teacher), s = adapted student)

i.e. positions where the teacher target is non-positive and the student is already
below it are skipped (the overhaul paper's definition, with the target after margin
ReLU, so ``t ≤ 0`` there means the teacher is "off"; this matches its reference code's
mask ``(s > t) | (t > 0)``).

Attention transfer (LaSNN §7.3, after Zagoruyko & Komodakis 2017)::

    F(A)  = Σ_c |A_c|^p                 [B, C, H, W] -> [B, H, W]   (p = 2)
    Q     = vec(F(A)) / ‖vec(F(A))‖₂    -> [B, H·W]
    L_AT  = mean_b ‖Q_T,b − Q_S,b‖₂

Gradient attention: teacher ``G = Σ_c |∂L/∂x_c|`` with ``L = Σ_b CE(teacher(x_b), y_b)``;
student spike activation map (SAM, Kim & Panda 2021) on spikes ``S [T, B, C, H, W]``::

    NCS[t] = Σ_{t' < t, S[t'] = 1} exp(−γ (t − t'))     (recursively e^{−γ}(NCS[t−1] + S[t−1]))
    M      = Σ_t Σ_c NCS_c[t] · S_c[t]                  -> [B, H, W]

Joint A-SNN (§7.4) per branch ``i``: ``CE(z_ann_i, y) + CE(z_snn_i, y)``,
``τ² KL(softmax(z_ann_i.detach()/τ) ‖ softmax(z_snn_i/τ))`` (the SNN imitates the detached
ANN), and ``mean((f_ann_i − f_snn_i)²)``; ``L = Σ CE + λ₁ Σ KL + λ₂ Σ L2``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..._validation import check_choice, check_positive

REDUCTIONS = ("mean", "sum", "batchmean")


# -- response KD ------------------------------------------------------------------------


def _check_logits(z_s: torch.Tensor, z_t: torch.Tensor) -> None:
    if z_s.dim() != 2 or z_s.shape != z_t.shape:
        raise ValueError(
            f"student and teacher logits must both be [B, K] with equal shapes, got "
            f"student {tuple(z_s.shape)} and teacher {tuple(z_t.shape)}"
        )


def kd_kl(z_s: torch.Tensor, z_t: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """``τ² KL(softmax(z_t/τ) ‖ softmax(z_s/τ))``, averaged over the batch.

    Gradients flow into ``z_s`` and, if it requires grad, ``z_t`` (detach it to use it as
    a fixed target).
    """
    _check_logits(z_s, z_t)
    check_positive(tau, "tau")
    log_p_s = F.log_softmax(z_s / tau, dim=-1)
    log_p_t = F.log_softmax(z_t / tau, dim=-1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1).mean()
    return tau * tau * kl


def response_kd(
    z_s: torch.Tensor,
    z_t: torch.Tensor,
    y: torch.Tensor,
    tau: float = 4.0,
    alpha: float = 0.5,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """``(1 − α) CE(z_s, y) + α τ² KL(softmax(z_t/τ) ‖ softmax(z_s/τ))`` (KDSNN Eq. 5).

    Args:
        z_s: student logits ``[B, K]`` (mean output membrane or rate over T).
        z_t: teacher logits ``[B, K]`` (a fixed target: pass it detached).
        y: labels ``[B]``.
        tau: temperature ``τ ≥ 1``.
        alpha: weight of the soft term, ``α ∈ [0, 1]``.
        label_smoothing: for the CE term.
    """
    if tau < 1.0:
        raise ValueError(f"tau must be >= 1, got {tau}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    ce = F.cross_entropy(z_s, y, label_smoothing=label_smoothing)
    return (1.0 - alpha) * ce + alpha * kd_kl(z_s, z_t, tau)


# -- feature KD (margin ReLU, partial L2) -----------------------------------------------


def channel_margins(features: torch.Tensor) -> torch.Tensor:
    """Per-channel mean of the negative responses: ``m_c = E[x_c | x_c < 0]``.

    Args:
        features: teacher features ``[N, C, ...]`` (pre-ReLU, e.g. a BatchNorm output).

    Returns:
        ``[C]`` margins (≤ 0); ``0`` for a channel with no negative response.
    """
    if features.dim() < 2:
        raise ValueError(f"features must be [N, C, ...], got shape {tuple(features.shape)}")
    x = features.detach().transpose(0, 1).reshape(features.shape[1], -1)
    negative = x < 0
    count = negative.sum(1)
    total = torch.where(negative, x, torch.zeros_like(x)).sum(1)
    return torch.where(count > 0, total / count.clamp_min(1), torch.zeros_like(total))


def margin_relu(x: torch.Tensor, margins: torch.Tensor | float) -> torch.Tensor:
    """``max(x, m_c)`` per channel (dim 1) for ``x`` ``[B, C, ...]`` and ``m`` ``[C]``."""
    m = torch.as_tensor(margins, dtype=x.dtype, device=x.device)
    if m.dim() == 1:
        if x.dim() < 2 or x.shape[1] != m.shape[0]:
            raise ValueError(
                f"margins [C={m.shape[0]}] must match the channels (dim 1) of x, "
                f"got x of shape {tuple(x.shape)}"
            )
        m = m.view(1, -1, *([1] * (x.dim() - 2)))
    elif m.dim() != 0:
        raise ValueError(f"margins must be a scalar or [C], got shape {tuple(m.shape)}")
    return torch.maximum(x, m)


def partial_l2(s: torch.Tensor, t: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Partial L2: ``Σ_i (t_i − s_i)²`` skipping positions where ``s_i ≤ t_i ≤ 0``.

    Args:
        s: student feature (after the adapter), any shape ``[B, ...]``.
        t: teacher target (after :func:`margin_relu`), same shape.
        reduction: ``"mean"`` (over all positions, skipped ones count as 0),
            ``"sum"``, or ``"batchmean"`` (sum / B, as the overhaul paper).
    """
    check_choice(reduction, "reduction", REDUCTIONS)
    if s.shape != t.shape:
        raise ValueError(
            f"student and teacher features must have equal shapes, got {tuple(s.shape)} "
            f"and {tuple(t.shape)}"
        )
    keep = (s > t) | (t > 0)
    d = (s - t).square() * keep.to(s.dtype)
    if reduction == "mean":
        return d.mean()
    if reduction == "sum":
        return d.sum()
    return d.sum() / s.shape[0]


def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize ``[B, C, H, W]`` spatially: area averaging when shrinking both sides,
    bilinear interpolation otherwise; unchanged when the size already matches."""
    size = tuple(int(v) for v in size)
    if tuple(x.shape[-2:]) == size:
        return x
    if x.shape[-2] >= size[0] and x.shape[-1] >= size[1]:
        return F.adaptive_avg_pool2d(x, size)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class Adapter(nn.Module):
    """Student transform of feature KD: ``T(s) = resize(Conv1×1(s))`` to the teacher shape.

    ``[B, C_s, H_s, W_s]`` -> ``[B, C_t, H_t, W_t]`` (1×1 conv with bias, then
    :func:`resize` when the spatial sizes differ).
    """

    def __init__(self, student_channels: int, teacher_channels: int) -> None:
        super().__init__()
        for value, name in ((student_channels, "student"), (teacher_channels, "teacher")):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}_channels must be a positive int, got {value!r}")
        self.conv = nn.Conv2d(student_channels, teacher_channels, kernel_size=1)

    def forward(self, s: torch.Tensor, size: Sequence[int] | None = None) -> torch.Tensor:
        if s.dim() != 4 or s.shape[1] != self.conv.in_channels:
            raise ValueError(
                f"adapter expects [B, {self.conv.in_channels}, H, W], got {tuple(s.shape)}"
            )
        out = self.conv(s)
        return out if size is None else resize(out, size)


# -- attention maps ---------------------------------------------------------------------


def _check_map_input(a: torch.Tensor, name: str) -> None:
    if a.dim() != 4:
        raise ValueError(f"{name} must be [B, C, H, W], got shape {tuple(a.shape)}")


def normalize_map(m: torch.Tensor) -> torch.Tensor:
    """``[B, H, W]`` (or ``[B, N]``) -> ``vec(m) / ‖vec(m)‖₂`` ``[B, H·W]``.

    An all-zero map stays zero **and passes no gradient**: its direction is undefined.
    (``F.normalize`` divides it by ``eps`` instead, a gradient of ``1/eps`` = 1e12 into
    the map. A student layer in which no neuron spikes twice within T steps has an empty
    spike activation map, common at T = 4, and that gradient wrecked the gradient-attention
    student on CIFAR-10.)
    """
    if m.dim() < 2:
        raise ValueError(f"map must be [B, H, W] or [B, N], got shape {tuple(m.shape)}")
    flat = m.flatten(1)
    norm = flat.norm(p=2, dim=1, keepdim=True)
    nonempty = norm > 0
    # divide empty rows by 1 (not 0) so no inf/NaN enters the graph, then mask them out
    return torch.where(nonempty, flat / torch.where(nonempty, norm, torch.ones_like(norm)), 0.0)


def resize_map(m: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize an un-normalised map ``[B, H, W]`` to ``size`` (see :func:`resize`)."""
    return resize(m.unsqueeze(1), size).squeeze(1)


def activation_map(a: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """``F(A) = Σ_c |A_c|^p``: ``[B, C, H, W]`` -> ``[B, H, W]`` (not normalised)."""
    _check_map_input(a, "activation")
    return a.abs().pow(p).sum(1)


def attention_map(a: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """``Q = vec(Σ_c |A_c|^p) / ‖·‖₂``: ``[B, C, H, W]`` -> ``[B, H·W]`` with unit rows."""
    return normalize_map(activation_map(a, p))


def attention_loss(q_s: torch.Tensor, q_t: torch.Tensor) -> torch.Tensor:
    """``mean_b ‖q_t,b − q_s,b‖₂`` for normalised maps ``[B, N]``."""
    if q_s.shape != q_t.shape or q_s.dim() != 2:
        raise ValueError(
            f"attention maps must both be [B, N] with equal shapes, got student "
            f"{tuple(q_s.shape)} and teacher {tuple(q_t.shape)}"
        )
    return (q_t - q_s).norm(p=2, dim=1).mean()


def input_gradient(teacher: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``∂L/∂x`` with ``L = Σ_b CE(teacher(x_b), y_b)`` (sum, so each sample's gradient is
    its own loss's), computed under ``enable_grad`` even inside ``no_grad``; detached.

    The teacher's parameters receive no gradient (only ``x`` is differentiated).
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        loss = F.cross_entropy(teacher(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad.detach()


def gradient_map(grad: torch.Tensor) -> torch.Tensor:
    """Teacher gradient attention ``Σ_c |∂L/∂x_c|``: ``[B, C, H, W]`` -> ``[B, H, W]``."""
    _check_map_input(grad, "gradient")
    return grad.abs().sum(1)


def spike_contribution(spikes: torch.Tensor, gamma: float = 0.5) -> torch.Tensor:
    """Neuronal contribution score ``NCS[t] = Σ_{t' < t, spike at t'} exp(−γ (t − t'))``.

    ``spikes`` ``[T, ...]`` -> ``[T, ...]``; ``NCS[0] = 0``. Differentiable in the spikes
    (surrogate gradients flow through).
    """
    check_positive(gamma, "gamma", allow_zero=True)
    decay = math.exp(-float(gamma))
    ncs = [torch.zeros_like(spikes[0])]
    for t in range(1, spikes.shape[0]):
        ncs.append(decay * (ncs[-1] + spikes[t - 1]))
    return torch.stack(ncs)


def spike_activation_map(spikes: torch.Tensor, gamma: float = 0.5) -> torch.Tensor:
    """SAM ``M = Σ_t Σ_c NCS_c[t] · S_c[t]``: ``[T, B, C, H, W]`` -> ``[B, H, W]``."""
    if spikes.dim() != 5:
        raise ValueError(f"spikes must be [T, B, C, H, W], got shape {tuple(spikes.shape)}")
    return (spike_contribution(spikes, gamma) * spikes).sum(dim=(0, 2))


# -- Joint A-SNN ------------------------------------------------------------------------


def branch_kl(z_snn: torch.Tensor, z_ann: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """``τ² KL(softmax(z_ann.detach()/τ) ‖ softmax(z_snn/τ))``: the SNN branch imitates the
    ANN branch; no gradient reaches the ANN through this term."""
    return kd_kl(z_snn, z_ann.detach(), tau)


def feature_l2(f_snn: torch.Tensor, f_ann: torch.Tensor) -> torch.Tensor:
    """``mean((f_ann − f_snn)²)`` between stage features of equal shape ``[B, ...]``."""
    if f_snn.shape != f_ann.shape:
        raise ValueError(
            f"ANN and SNN stage features must have equal shapes, got SNN "
            f"{tuple(f_snn.shape)} and ANN {tuple(f_ann.shape)}"
        )
    return (f_ann - f_snn).square().mean()


def joint_asnn_loss(
    snn_logits: Sequence[torch.Tensor],
    ann_logits: Sequence[torch.Tensor],
    snn_features: Sequence[torch.Tensor],
    ann_features: Sequence[torch.Tensor],
    y: torch.Tensor,
    lambda_kl: float = 1.0,
    lambda_l2: float = 1.0,
    tau: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Joint A-SNN objective ``L = Σ CE + λ₁ Σ KL + λ₂ Σ L2`` over the branches.

    Args:
        snn_logits: per-branch SNN logits ``[B, K]`` (time means).
        ann_logits: per-branch ANN logits ``[B, K]``.
        snn_features: per-stage SNN features ``[B, ...]`` (time means).
        ann_features: per-stage ANN features, same shapes.
        y: labels ``[B]``.

    Returns:
        ``{"loss", "ce", "kl", "l2"}`` (the three sums before weighting, and the total).
    """
    if len(snn_logits) != len(ann_logits) or not snn_logits:
        raise ValueError(
            f"need one SNN and one ANN logit tensor per branch, got {len(snn_logits)} SNN "
            f"and {len(ann_logits)} ANN"
        )
    if len(snn_features) != len(ann_features):
        raise ValueError(
            f"need as many SNN as ANN stage features, got {len(snn_features)} and "
            f"{len(ann_features)}"
        )
    ce = sum(
        F.cross_entropy(s, y) + F.cross_entropy(a, y)
        for s, a in zip(snn_logits, ann_logits, strict=True)
    )
    kl = sum(branch_kl(s, a, tau) for s, a in zip(snn_logits, ann_logits, strict=True))
    zero = snn_logits[0].new_zeros(())
    l2 = sum((feature_l2(s, a) for s, a in zip(snn_features, ann_features, strict=True)), zero)
    loss = ce + lambda_kl * kl + lambda_l2 * l2
    return {"loss": loss, "ce": ce, "kl": kl, "l2": l2}  # type: ignore[dict-item]
