import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import distill_nets
from distill_nets import batch
from distill_nets import two_stage_teacher as tiny_teacher
from spikeforge.methods.distill import (
    LaSNN,
    attention_loss,
    attention_map,
    build_distillation,
    capture,
    kd_kl,
    spike_activation_map,
)
from spikeforge.methods.distill.losses import normalize_map, resize_map

PAIRS = [("1", "1"), ("5", "3")]  # (teacher layer, student LIF layer): low, high


def tiny_student() -> nn.Module:
    return distill_nets.tiny_student(surrogate="triangle")  # LaSNN's default surrogate


def test_activation_scheme_loss_equals_recomputation():
    torch.manual_seed(0)
    student, teacher = tiny_student(), tiny_teacher()
    method = LaSNN(teacher, PAIRS, weights=[0.5, 2.0], beta=3.0, tau=2.0, alpha=0.4)
    x, y = batch()
    terms = method(student, x, y)
    with torch.no_grad(), capture(teacher, ["1", "5"]) as t:
        z_t = teacher(x.mean(0))
    with capture(student, ["1", "3"]) as s:
        out = student(x)
    levels = []
    for t_name, s_name in PAIRS:
        a_s = s[s_name].mean(0)  # firing rate [B, C, H, W]
        t_map = resize_map(t[t_name].pow(2).sum(1), a_s.shape[-2:])
        levels.append(attention_loss(attention_map(a_s), normalize_map(t_map)))
    at = 0.5 * levels[0] + 2.0 * levels[1]
    z_s = out.mean(0)
    expected = 0.6 * F.cross_entropy(z_s, y) + 0.4 * kd_kl(z_s, z_t, 2.0) + 1.5 * at
    torch.testing.assert_close(terms["loss"], expected)
    torch.testing.assert_close(terms["at"], at.detach())
    torch.testing.assert_close(terms["at_1"], levels[1].detach())
    assert set(terms) == {"loss", "output", "ce", "kd", "at", "at_0", "at_1"}


def test_gradient_scheme_teacher_map_is_the_input_gradient_and_student_map_is_sam():
    torch.manual_seed(0)
    linear = nn.Linear(16, 3, bias=False)
    teacher = nn.Sequential(nn.Identity(), nn.Flatten(), linear)
    student = tiny_student()
    method = LaSNN(teacher, [("0", "1")], attention="gradient", gamma=0.5)
    x, y = batch()
    images = x.mean(0)
    _, _, maps = method.teacher_pass(images, y)
    z = linear(images.flatten(1))
    analytic = ((torch.softmax(z, -1) - F.one_hot(y, 3).float()) @ linear.weight).view(5, 4, 4)
    torch.testing.assert_close(maps[0], analytic.abs())
    terms = method(student, x, y)
    with capture(student, ["1"]) as s:
        student(x)
    at = attention_loss(
        normalize_map(spike_activation_map(s["1"], 0.5)), normalize_map(analytic.abs())
    )
    torch.testing.assert_close(terms["at_0"], at.detach())
    assert linear.weight.grad is None


@pytest.mark.parametrize(
    ("attention", "teacher_gradient", "features"),
    [("activation", "input", "membrane"), ("gradient", "layer", "rate"), ("both", "input", "rate")],
)
def test_forward_backward_gives_student_gradients_and_keeps_teacher_fixed(
    attention: str, teacher_gradient: str, features: str
):
    torch.manual_seed(0)
    student, teacher = tiny_student(), tiny_teacher()
    method = build_distillation(
        "lasnn",
        teacher,
        PAIRS,
        attention=attention,
        teacher_gradient=teacher_gradient,
        student_features=features,
    )
    assert list(method.parameters()) == []
    before = copy.deepcopy(teacher.state_dict())
    opt = torch.optim.SGD(student.parameters(), lr=0.1)
    x, y = batch()
    for _ in range(2):
        opt.zero_grad()
        terms = method(student, x, y)
        terms["loss"].backward()
        opt.step()
    assert terms["at"] > 0
    for name, p in student.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert all(p.grad is None for p in teacher.parameters())
    for key, value in teacher.state_dict().items():
        torch.testing.assert_close(value, before[key])
    with torch.no_grad():  # the Trainer evaluates under no_grad
        assert torch.isfinite(method(student.eval(), x, y)["loss"])


def test_layer_gradient_maps_and_validation():
    teacher = tiny_teacher()
    method = LaSNN(teacher, PAIRS, attention="gradient", teacher_gradient="layer")
    x, y = batch()
    _, feats, maps = method.teacher_pass(x.mean(0), y)
    assert [m.shape for m in maps] == [(5, 4, 4), (5, 2, 2)]
    assert not any(v.requires_grad for v in feats.values())
    with pytest.raises(ValueError, match="one λ >= 0 per pair"):
        LaSNN(teacher, PAIRS, weights=[1.0])
    with pytest.raises(ValueError, match="attention must be one of"):
        LaSNN(teacher, PAIRS, attention="spatial")
    with pytest.raises(ValueError, match="each pair must be"):
        LaSNN(teacher, [("1",)])
    method = LaSNN(teacher, [("8", "4")], attention="gradient")  # readout is not [B,C,H,W]
    with pytest.raises(ValueError, match="needs student spikes"):
        method(tiny_student(), x, y)
