"""``methods/distill/__init__.py``: :func:`build_distillation` builds the registered
distillation methods (a teacher's, or Joint A-SNN's self-distillation) and refuses the
others, naming the ones it builds."""

from __future__ import annotations

import pytest
import torch

from distill_nets import batch, tiny_student
from distill_nets import two_stage_teacher as tiny_teacher
from spikeforge.methods import METHODS
from spikeforge.methods.distill import FeatureKD, JointASNN, LaSNN, ResponseKD, build_distillation

PAIRS = [("1", "1"), ("5", "3")]


def test_each_distillation_method_is_built_with_its_options():
    teacher = tiny_teacher()
    kd = build_distillation("kd", teacher, tau=2.0, alpha=0.25)
    assert type(kd) is ResponseKD and kd.teacher is teacher and (kd.tau, kd.alpha) == (2.0, 0.25)
    feature = build_distillation("feature_kd", tiny_teacher(), PAIRS, beta=3.0)
    assert type(feature) is FeatureKD and feature.beta == 3.0
    lasnn = build_distillation("LaSNN", tiny_teacher(), PAIRS, attention="activation")
    assert type(lasnn) is LaSNN  # names are case-insensitive, as in the registry
    joint = build_distillation("joint_asnn", None, lambda_kl=0.5)
    assert type(joint) is JointASNN and joint.lambda_kl == 0.5


def test_the_built_method_trains_the_student_against_the_teacher():
    method = build_distillation("kd", tiny_teacher())
    student = tiny_student()
    x, y = batch()
    terms = method(student, x, y)
    terms["loss"].backward()
    assert torch.isfinite(terms["loss"]) and terms["output"].shape == (4, 5, 3)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())


def test_other_methods_are_refused_with_the_distilling_ones_named():
    distilling = [n for n in METHODS.names() if METHODS.get(n).needs_teacher] + ["joint_asnn"]
    for name in ("bptt", "sltt", "hybrid"):
        with pytest.raises(ValueError, match=f"method_name must be one of .*got '{name}'") as info:
            build_distillation(name, tiny_teacher())
        assert all(repr(n) in str(info.value) for n in distilling)
        assert "'bptt'" not in str(info.value).split("got")[0]
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        build_distillation("nope", tiny_teacher())
