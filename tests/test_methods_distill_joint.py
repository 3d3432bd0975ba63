import pytest
import torch
import torch.nn.functional as F
from torch import nn

from distill_nets import batch
from spikeforge.methods import METHODS
from spikeforge.methods.distill import JointASNN, build_distillation, kd_kl
from spikeforge.models import create


def tiny() -> nn.Module:
    torch.manual_seed(0)
    return create("joint_csnn", num_classes=3, in_channels=1, input_size=4, widths=(2, 3))


def test_joint_loss_equals_recomputation_from_both_paths():
    model = tiny()
    method = build_distillation("joint_asnn", None, lambda_kl=0.5, lambda_l2=2.0)
    x, y = batch()
    terms = method(model, x, y)
    out = model(x, joint=True)
    ce = kl = l2 = 0.0
    for z_s, z_a, f_s, f_a in zip(
        out["snn_logits"], out["ann_logits"], out["snn_features"], out["ann_features"], strict=True
    ):
        z_s = z_s.mean(0)
        ce = ce + F.cross_entropy(z_s, y) + F.cross_entropy(z_a, y)
        kl = kl + kd_kl(z_s, z_a.detach())
        l2 = l2 + (f_a - f_s.mean(0)).square().mean()
    torch.testing.assert_close(terms["loss"], ce + 0.5 * kl + 2.0 * l2)
    torch.testing.assert_close(terms["kl"], kl.detach())
    torch.testing.assert_close(terms["output"], out["snn_logits"][-1])


def test_every_parameter_gets_a_gradient():
    model = tiny()
    method = JointASNN()
    assert list(method.parameters()) == []
    x, y = batch()
    method(model, x, y)["loss"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    with torch.no_grad():
        assert torch.isfinite(method(model.eval(), x, y)["loss"])


def test_validation():
    assert "joint_asnn" in METHODS.names()
    x, y = batch()
    with pytest.raises(TypeError, match="JointCSNN"):
        JointASNN()(create("csnn_tiny", num_classes=3, input_size=4), x, y)
    with pytest.raises(ValueError, match="teacher=None"):
        JointASNN(teacher=nn.Linear(2, 2))
    with pytest.raises(ValueError, match="no pairs"):
        JointASNN(pairs=[("a", "b")])
    with pytest.raises(ValueError, match=">= 0"):
        JointASNN(lambda_kl=-1.0)
