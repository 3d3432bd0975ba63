"""ANN→SNN knowledge distillation (METHODS §7): registered methods ``kd`` (response KD),
``feature_kd`` (KDSNN feature KD), ``lasnn`` (layer-wise attention distillation) and
``joint_asnn`` (Joint A-SNN self-distillation on model ``joint_csnn``).

Build one with :func:`build_distillation` (or ``METHODS.create(name, teacher=..., ...)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from ..base import METHODS, Method
from .feature import FeatureKD as FeatureKD
from .features import capture as capture
from .features import student_forward as student_forward
from .features import teacher_forward as teacher_forward
from .joint import JointASNN as JointASNN
from .lasnn import LaSNN as LaSNN
from .losses import Adapter as Adapter
from .losses import attention_loss as attention_loss
from .losses import attention_map as attention_map
from .losses import channel_margins as channel_margins
from .losses import gradient_map as gradient_map
from .losses import input_gradient as input_gradient
from .losses import joint_asnn_loss as joint_asnn_loss
from .losses import kd_kl as kd_kl
from .losses import margin_relu as margin_relu
from .losses import partial_l2 as partial_l2
from .losses import response_kd as response_kd
from .losses import spike_activation_map as spike_activation_map
from .losses import spike_contribution as spike_contribution
from .response import ResponseKD as ResponseKD
from .response import TeacherMethod as TeacherMethod


def build_distillation(
    method_name: str,
    teacher: nn.Module | None,
    pairs: Sequence[tuple[str, str]] | None = None,
    **options: Any,
) -> Method:
    """Build a registered distillation method.

    Args:
        method_name: a method that takes a teacher (``kd``, ``feature_kd``, ``lasnn``:
            ``needs_teacher``) or self-distils (``joint_asnn``).
        teacher: the trained ANN (frozen by the method); ``None`` for ``joint_asnn``.
        pairs: ``[(teacher_layer, student_layer), ...]`` for ``feature_kd``/``lasnn``.
        **options: the method's own options (``tau``, ``alpha``, ``beta``, ``weights``,
            ``channels``, ``attention``, ``objective``, ...).
    """
    cls = METHODS.get(method_name)
    if not (getattr(cls, "needs_teacher", False) or cls is JointASNN):
        distilling = [
            n
            for n in METHODS.names()
            if getattr(METHODS.get(n), "needs_teacher", False) or METHODS.get(n) is JointASNN
        ]
        raise ValueError(f"method_name must be one of {tuple(distilling)}, got {method_name!r}")
    return METHODS.create(method_name, teacher=teacher, pairs=pairs, **options)
