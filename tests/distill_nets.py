"""Tiny student/teacher pair and batch shared by the distillation test modules."""

import torch
from torch import nn

from spikeforge.models import create


def tiny_student(surrogate: str = "atan") -> nn.Module:
    """``csnn_tiny``: "0" conv-BN, "1" LIF, "2" conv-BN, "3" LIF, "4" readout; 4×4 inputs."""
    return create(
        "csnn_tiny", num_classes=3, in_channels=1, input_size=4, widths=(2, 3), surrogate=surrogate
    )


def two_stage_teacher() -> nn.Module:
    """ReLU CNN whose BN outputs "1" (4 ch, 4×4) and "5" (5 ch, 2×2) pair with the student."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Conv2d(4, 5, 3, padding=1),
        nn.BatchNorm2d(5),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(5 * 2 * 2, 3),
    )


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded inputs ``[T=4, B=5, 1, 4, 4]`` in [0, 3) and labels ``[5]``."""
    g = torch.Generator().manual_seed(0)
    return 3 * torch.rand(4, 5, 1, 4, 4, generator=g), torch.tensor([0, 1, 2, 0, 1])
