"""How much of the training gradient flows through time (the T-RevSNN paper's analysis).

:func:`temporal_gradient_similarity` compares, on one batch, the full BPTT gradient of the
mean per-step cross-entropy with the gradient of the same loss when every temporal path is
dropped (SLTT's, :mod:`spikeforge.methods.online`): their cosine similarity per parameter
tensor and over all parameters at once. Near 1, the temporal paths add little and the
online methods lose little; far below 1, the task's credit assignment runs through time.
With BatchNorm the two gradients also differ in their batch statistics (over T·B for the
whole sequence, over B for one step).
"""

from __future__ import annotations

import torch
from torch import nn

from ..methods.online import SLTT


def _flat_grads(model: nn.Module) -> dict[str, torch.Tensor]:
    return {
        n: p.grad.detach().flatten().clone()
        for n, p in model.named_parameters()
        if p.grad is not None
    }


def temporal_gradient_similarity(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, objective: str = "ce_per_step"
) -> dict[str, float | dict[str, float]]:
    """Cosine similarity between BPTT's and SLTT's gradient of one per-step objective.

    Args:
        model: any model SLTT can step (neurons that carry state step to step).
        inputs: ``[T, B, ...]``; targets: ``[B]`` class indices.
        objective: a per-step objective (:data:`.methods.online.PER_STEP_OBJECTIVES`).

    Returns:
        ``{"overall": cos, "per_parameter": {name: cos}}``; a parameter whose gradient is
        zero under either method is left out of ``per_parameter`` (its cosine is undefined)
        but counts in ``overall``. The model's ``.grad`` fields are cleared afterwards.
    """
    sltt = SLTT(objective)
    was_training = model.training
    model.train()
    try:
        model.zero_grad(set_to_none=True)
        output = model(inputs)
        sltt.sequence_loss(output, targets).backward()
        full = _flat_grads(model)
        model.zero_grad(set_to_none=True)
        sltt(model, inputs, targets)
        dropped = _flat_grads(model)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    names = [n for n in full if n in dropped]
    per_parameter = {}
    for n in names:
        a, b = full[n], dropped[n]
        if a.norm() > 0 and b.norm() > 0:
            per_parameter[n] = float(torch.nn.functional.cosine_similarity(a, b, dim=0))
    a = torch.cat([full[n] for n in names])
    b = torch.cat([dropped[n] for n in names])
    overall = float(torch.nn.functional.cosine_similarity(a, b, dim=0))
    return {"overall": overall, "per_parameter": per_parameter}
