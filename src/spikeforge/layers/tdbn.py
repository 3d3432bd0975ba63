r"""Threshold-dependent batch normalisation (tdBN, Zheng et al., AAAI 2021).

Normalises pre-activations of ``[T, B, C, ...]`` jointly over time, batch and space,
scaled to the firing threshold: ``y = λ · α V_th (x - μ) / sqrt(σ² + ε) + β`` per
channel, with ``μ, σ²`` over (T, B, spatial). ``α`` (1, or 1/sqrt(2) before a residual
add) keeps the pre-activation's spread matched to ``V_th``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_positive, check_sequence


class ThresholdDependentBatchNorm(nn.BatchNorm1d):
    """tdBN over ``[T, B, C, *]`` (any number of spatial dims).

    Args:
        num_features: channels C.
        alpha: the α factor.
        v_th: threshold of the neurons that follow.
        eps, momentum, affine: as :class:`torch.nn.BatchNorm1d`.
    """

    def __init__(
        self,
        num_features: int,
        alpha: float = 1.0,
        v_th: float = 1.0,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
    ) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=affine)
        check_positive(alpha, "alpha")
        check_positive(v_th, "v_th")
        self.alpha = float(alpha)
        self.v_th = float(v_th)

    def _check_input_dim(self, x: torch.Tensor) -> None:
        # Called by nn.BatchNorm on [T·B, C, *]; any spatial rank is fine.
        if x.dim() < 2:
            raise ValueError(f"tdBN expects [T, B, C, *], got shape {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[T, B, C, *]`` -> same shape."""
        check_sequence(x, "tdBN input", min_dim=3)
        if x.shape[2] != self.num_features:
            raise ValueError(
                f"tdBN expects {self.num_features} channels at dim 2 of [T, B, C, *], "
                f"got shape {tuple(x.shape)}"
            )
        steps, batch = x.shape[:2]
        flat = x.flatten(0, 1)
        # The statistics part is plain BN; the α·V_th scale is what makes it tdBN.
        normalised = F.batch_norm(
            flat,
            self.running_mean,
            self.running_var,
            None,
            None,
            self.training or not self.track_running_stats,
            self.momentum if self.momentum is not None else 0.0,
            self.eps,
        )
        scale = self.alpha * self.v_th
        shape = (1, -1) + (1,) * (flat.dim() - 2)
        if self.affine:
            out = normalised * (scale * self.weight).view(shape) + self.bias.view(shape)
        else:
            out = normalised * scale
        return out.unflatten(0, (steps, batch))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, alpha={self.alpha}, v_th={self.v_th}"
