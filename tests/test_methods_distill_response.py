import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from distill_nets import batch, tiny_student
from spikeforge.methods import METHODS
from spikeforge.methods.distill import ResponseKD, build_distillation, kd_kl


def tiny_teacher() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 2 * 2, 3),
    )


def test_kd_loss_is_the_response_kd_formula():
    torch.manual_seed(0)
    student, teacher = tiny_student(), tiny_teacher()
    method = ResponseKD(teacher, tau=2.0, alpha=0.3)
    x, y = batch()
    terms = method(student, x, y)
    with torch.no_grad():
        z_t = teacher(x.mean(0))  # teacher sees the time-mean image, in eval mode
    z_s = terms["output"].mean(0)
    ce = F.cross_entropy(z_s, y)
    kd = kd_kl(z_s, z_t, 2.0)
    torch.testing.assert_close(terms["loss"], 0.7 * ce + 0.3 * kd)
    torch.testing.assert_close(terms["ce"], ce.detach())
    torch.testing.assert_close(terms["kd"], kd.detach())
    assert terms["output"].shape == (4, 5, 3)


def test_teacher_is_frozen_excluded_from_parameters_and_checkpointed():
    torch.manual_seed(0)
    student, teacher = tiny_student(), tiny_teacher()
    method = build_distillation("kd", teacher)
    assert isinstance(method, ResponseKD)
    method.train()
    assert not teacher.training  # train() keeps the teacher in eval mode
    assert list(method.parameters()) == []
    assert any(k.startswith("teacher.") for k in method.state_dict())
    before = copy.deepcopy(teacher.state_dict())
    # as the Trainer: one optimiser over model + method parameters
    opt = torch.optim.SGD([*student.parameters(), *method.parameters()], lr=0.5, momentum=0.9)
    x, y = batch()
    for _ in range(2):
        opt.zero_grad()
        method(student, x, y)["loss"].backward()
        opt.step()
    assert all(p.grad is None for p in teacher.parameters())
    for key, value in teacher.state_dict().items():
        torch.testing.assert_close(value, before[key])
    for name, p in student.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in student.parameters())


def test_kd_runs_inside_no_grad_evaluation():
    method = ResponseKD(tiny_teacher())
    x, y = batch()
    with torch.no_grad():
        terms = method(tiny_student().eval(), x, y)
    assert torch.isfinite(terms["loss"])


def test_registered_and_validated():
    for name in ("kd", "feature_kd", "lasnn", "joint_asnn"):
        assert name in METHODS.names()
    with pytest.raises(ValueError, match="needs teacher="):
        METHODS.create("kd", objective="ce_membrane")
    with pytest.raises(TypeError, match="nn.Module"):
        ResponseKD(teacher="resnet")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no layer pairs"):
        ResponseKD(tiny_teacher(), pairs=[("1", "1")])
    with pytest.raises(ValueError, match="objective must be one of"):
        ResponseKD(tiny_teacher(), objective="mse_count")
    with pytest.raises(ValueError, match="tau must be >= 1"):
        ResponseKD(tiny_teacher(), tau=0.5)
