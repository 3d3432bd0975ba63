import copy

import pytest
import torch
from torch import nn

from distill_nets import batch, tiny_student
from distill_nets import two_stage_teacher as tiny_teacher
from spikeforge.methods.distill import (
    FeatureKD,
    build_distillation,
    capture,
    channel_margins,
    margin_relu,
    partial_l2,
)

PAIRS = [("1", "1"), ("5", "3")]  # teacher BN outputs (pre-ReLU) <- student LIF layers


def test_feature_kd_loss_equals_recomputation():
    torch.manual_seed(0)
    student, teacher = tiny_student(), tiny_teacher()
    method = FeatureKD(teacher, PAIRS, channels=[(2, 4), (3, 5)], beta=0.5)
    x, y = batch()
    terms = method(student, x, y)
    with torch.no_grad(), capture(teacher, ["1", "5"]) as t:
        teacher(x.mean(0))
    # margins come from the first batch's teacher responses
    torch.testing.assert_close(method.margins()[0], channel_margins(t["1"]))
    assert bool(method.calibrated)
    with capture(student, ["1", "3"]) as s:
        out = student(x)
    feat = 0.0
    for i, (t_name, s_name) in enumerate(PAIRS):
        adapted = method.adapters[i](s[s_name].mean(0), size=t[t_name].shape[-2:])
        assert adapted.shape == t[t_name].shape  # layer "3" is 4x4, teacher "5" is 2x2
        feat = feat + partial_l2(adapted, margin_relu(t[t_name], method.margins()[i]))
    ce = nn.functional.cross_entropy(out.mean(0), y)
    torch.testing.assert_close(terms["loss"], ce + 0.5 * feat)
    torch.testing.assert_close(terms["feat"], feat.detach())


def test_every_trainable_parameter_gets_a_gradient_and_teacher_stays_fixed():
    torch.manual_seed(0)
    student, teacher = tiny_student(), tiny_teacher()
    x, y = batch()
    method = build_distillation("feature_kd", teacher, PAIRS).setup(student, x)
    assert [tuple(a.conv.weight.shape[:2]) for a in method.adapters] == [(4, 2), (5, 3)]
    params = list(method.parameters())
    assert len(params) == 4 and all(p.requires_grad for p in params)  # adapters only
    before = copy.deepcopy(teacher.state_dict())
    opt = torch.optim.SGD([*student.parameters(), *params], lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        method(student, x, y)["loss"].backward()
        opt.step()
    for name, p in [*student.named_parameters(), *method.named_parameters()]:
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert all(p.grad is None for p in teacher.parameters())
    for key, value in teacher.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_calibrate_membrane_option_and_errors():
    torch.manual_seed(0)
    student, teacher = tiny_student(), tiny_teacher()
    x, y = batch()
    method = FeatureKD(teacher, PAIRS, channels=[(2, 4), (3, 5)], student_features="membrane")
    images = torch.randn(8, 1, 4, 4)
    method.calibrate(images)
    with torch.no_grad(), capture(teacher, ["5"]) as t:
        teacher(images)
    torch.testing.assert_close(method.margins()[1], channel_margins(t["5"]))
    margins = [m.clone() for m in method.margins()]
    terms = method(student, x, y)  # already calibrated: margins unchanged
    assert torch.isfinite(terms["loss"])
    torch.testing.assert_close(method.margins()[0], margins[0])
    state = method.state_dict()
    assert "margin_0" in state and "calibrated" in state
    with pytest.raises(RuntimeError, match="no adapters yet"):
        FeatureKD(tiny_teacher(), PAIRS)(student, x, y)
    with pytest.raises(ValueError, match="pairs"):
        FeatureKD(tiny_teacher(), [])
    with pytest.raises(ValueError, match="each of the 2"):
        FeatureKD(tiny_teacher(), PAIRS, channels=[(2, 4)])
