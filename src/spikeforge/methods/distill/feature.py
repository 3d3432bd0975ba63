r"""Feature-based ANN→SNN distillation (KDSNN, Xu et al., CVPR 2023; METHODS §7.2).

For each layer pair ``i`` (teacher layer, student layer)::

    s_i = T_i(r_i)                      (1×1-conv adapter on the student's time-mean
                                         feature, resized to the teacher's H×W)
    t_i = max(A_i, m_i)                 (margin ReLU on the teacher feature, m_i [C_t])
    L_feat,i = d_p(s_i, t_i)            (partial L2, see :mod:`.losses`)
    L = CE(z_s, y) + β Σ_i L_feat,i

Name **pre-ReLU** teacher layers (e.g. the BatchNorm output), as the overhaul paper
does: after a ReLU there are no negative responses, the margins are 0 and the margin
ReLU is the identity. The margins ``m_i`` are the per-channel means of the teacher's
negative responses, computed by :meth:`FeatureKD.calibrate` on a batch of images or,
if it was not called, on the first batch the method sees; they are buffers, so a
checkpoint keeps them.

Adapters need the channel counts before the optimiser is built: pass
``channels=[(C_student, C_teacher), ...]``, or call :meth:`FeatureKD.setup` with the
student and a sample batch (one probe forward) before creating the optimiser — and,
when resuming, before ``load_state_dict`` (the adapters and margin buffers must exist).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..base import METHODS
from .features import infer_channels, student_forward, teacher_forward
from .losses import REDUCTIONS, Adapter, channel_margins, margin_relu, partial_l2
from .response import TeacherMethod, check_pairs

PROBE_SAMPLES = 8  # inputs of the probe forward that sizes the adapters
CALIBRATION_SAMPLES = 256  # inputs whose teacher responses set the margins


@METHODS.register("feature_kd")
class FeatureKD(TeacherMethod):
    """KDSNN feature distillation with margin ReLU, partial L2 and 1×1-conv adapters.

    Returns ``{"loss", "output" [T, B, K], "ce", "feat"}`` (``feat`` = ``Σ_i L_feat,i``).

    Args:
        teacher: frozen ANN.
        pairs: ``[(teacher_layer, student_layer), ...]``; features must be ``[B, C, H, W]``.
        channels: ``[(C_student, C_teacher), ...]`` per pair, or ``None`` to call
            :meth:`setup` later.
        beta: weight ``β`` of the feature term.
        student_features: ``"rate"`` (time-mean output) or ``"membrane"`` (time-mean input
            current) of the student layer (see :mod:`.features`).
        reduction: of the partial L2: ``"mean"`` (default), ``"sum"`` or ``"batchmean"``.
        objective, label_smoothing: see :class:`~.response.TeacherMethod`.
    """

    needs_pairs = True

    def __init__(
        self,
        teacher: nn.Module | None = None,
        pairs: Sequence[tuple[str, str]] = (),
        channels: Sequence[tuple[int, int]] | None = None,
        beta: float = 1.0,
        student_features: str = "rate",
        reduction: str = "mean",
        objective: str = "ce_membrane",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(teacher, objective, label_smoothing)
        self.pairs = check_pairs(pairs, "feature_kd")
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        if student_features not in ("rate", "membrane"):
            raise ValueError(
                f"student_features must be 'rate' or 'membrane', got {student_features!r}"
            )
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.beta, self.student_features, self.reduction = float(beta), student_features, reduction
        self.adapters = nn.ModuleList()
        if channels is not None:
            self._build(channels)

    def _build(self, channels: Sequence[tuple[int, int]]) -> None:
        if len(channels) != len(self.pairs):
            raise ValueError(
                f"channels must give (C_student, C_teacher) for each of the {len(self.pairs)} "
                f"pairs, got {len(channels)}: {channels!r}"
            )
        device = next(self.teacher.parameters(), torch.empty(0)).device
        self.adapters = nn.ModuleList(Adapter(int(s), int(t)) for s, t in channels).to(device)
        for i, (_, c_t) in enumerate(channels):
            self.register_buffer(f"margin_{i}", torch.zeros(int(c_t), device=device))
        self.register_buffer("calibrated", torch.zeros((), dtype=torch.bool, device=device))

    @property
    def ready(self) -> bool:
        """Whether the adapters exist (``channels`` given or :meth:`setup` called)."""
        return len(self.adapters) == len(self.pairs)

    def setup(self, model: nn.Module, inputs: torch.Tensor) -> FeatureKD:
        """Infer the channels by one probe forward of both networks on ``inputs``
        ``[T, B, ...]`` and build the adapters (call before building the optimiser)."""
        self._build(infer_channels(self.teacher, model, self.pairs, inputs, self.student_features))
        return self

    def prepare(self, model: nn.Module, sample: Callable[[int], torch.Tensor]) -> None:
        """The engine's hook: adapters from a probe of :data:`PROBE_SAMPLES` inputs, then
        the margins from the teacher's responses to :data:`CALIBRATION_SAMPLES` inputs
        (a seeded draw, the same on every process; else each rank's first batch)."""
        if not self.ready:
            self.setup(model, sample(PROBE_SAMPLES))
        self.calibrate(self.teacher_input(sample(CALIBRATION_SAMPLES)))

    def margins(self) -> list[torch.Tensor]:
        """The per-channel margins ``m_i`` ``[C_t]`` of each pair."""
        return [getattr(self, f"margin_{i}") for i in range(len(self.pairs))]

    def _set_margins(self, feats: dict[str, torch.Tensor]) -> None:
        for i, (t_name, _) in enumerate(self.pairs):
            getattr(self, f"margin_{i}").copy_(channel_margins(feats[t_name]))
        self.calibrated.fill_(True)

    def calibrate(self, images: torch.Tensor) -> FeatureKD:
        """Set the margins from the teacher's responses to ``images`` ``[N, C, H, W]``."""
        if not self.ready:
            raise RuntimeError("feature_kd: build the adapters first (channels= or setup())")
        _, feats = teacher_forward(self.teacher, images, [t for t, _ in self.pairs])
        self._set_margins(feats)
        return self

    def forward(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        if not self.ready:
            raise RuntimeError(
                "feature_kd has no adapters yet: pass channels=[(C_student, C_teacher), ...] "
                "or call method.setup(model, sample_inputs) before training"
            )
        _, t_feats = teacher_forward(
            self.teacher, self.teacher_input(inputs), [t for t, _ in self.pairs]
        )
        if not bool(self.calibrated):
            self._set_margins(t_feats)
        output, s_feats, _ = student_forward(
            model, inputs, [s for _, s in self.pairs], self.student_features
        )
        feat = output.new_zeros(())
        for (t_name, s_name), adapter, margin in zip(
            self.pairs, self.adapters, self.margins(), strict=True
        ):
            t = t_feats[t_name]
            if t.dim() != 4:
                raise ValueError(
                    f"feature_kd needs conv features [B, C, H, W]; teacher layer {t_name!r} "
                    f"gave {tuple(t.shape)}"
                )
            s = adapter(s_feats[s_name], size=t.shape[-2:])
            feat = feat + partial_l2(s, margin_relu(t, margin), self.reduction)
        ce = self.task_loss(output, targets)
        loss = ce + self.beta * feat
        return {"loss": loss, "output": output, "ce": ce.detach(), "feat": feat.detach()}
