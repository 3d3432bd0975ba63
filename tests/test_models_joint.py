import pytest
import torch

from spikeforge.models import MODELS, create
from spikeforge.models.joint import FactorizedWeight, JointCSNN


def tiny() -> JointCSNN:
    torch.manual_seed(0)
    return create("joint_csnn", num_classes=3, in_channels=1, input_size=4, widths=(2, 3))


def test_registered_shapes_and_joint_outputs():
    assert "joint_csnn" in MODELS.names()
    model = tiny()
    x = 3 * torch.rand(4, 2, 1, 4, 4)
    assert model(x).shape == (4, 2, 3)
    out = model(x, joint=True)
    assert [z.shape for z in out["snn_logits"]] == [(4, 2, 3)] * 2
    assert [z.shape for z in out["ann_logits"]] == [(2, 3)] * 2
    assert [f.shape for f in out["snn_features"]] == [(4, 2, 2, 4, 4), (4, 2, 3, 2, 2)]
    assert [f.shape for f in out["ann_features"]] == [(2, 2, 4, 4), (2, 3, 2, 2)]
    torch.testing.assert_close(model.forward_ann(x.mean(0)), out["ann_logits"][-1])
    torch.testing.assert_close(model(x), out["snn_logits"][-1])
    with pytest.raises(ValueError, match=r"\[T, B, C, H, W\]"):
        model(x[0])
    with pytest.raises(ValueError, match="divisible"):
        JointCSNN(input_size=6, widths=(2, 3, 4))


def test_svd_initialisation_reconstructs_the_weight():
    weight = torch.randn(4, 3, 3, 3)
    factor = FactorizedWeight(weight)
    assert factor.U.shape == (4, 4) and factor.V.shape == (27, 4)
    torch.testing.assert_close(factor("ann"), weight, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(factor("snn"), factor("ann"))
    u, s, v = factor.U, factor.sigma_snn, factor.V
    torch.testing.assert_close(factor("snn"), (u @ torch.diag(s) @ v.T).reshape(4, 3, 3, 3))
    with pytest.raises(ValueError, match="path must be one of"):
        factor("cnn")


def test_both_paths_use_the_same_u_v_and_their_gradients_accumulate():
    model = tiny()
    factors = model.factors()
    assert len(factors) == 4  # two convs, two heads
    # one U and one V tensor per layer: no copies anywhere in the parameter list
    params = list(model.parameters())
    ptrs = [p.data_ptr() for p in params]
    assert len(set(ptrs)) == len(ptrs)
    names = [n for n, _ in model.named_parameters()]
    assert sum(n.endswith(".U") for n in names) == 4 and sum(n.endswith(".V") for n in names) == 4
    x = 3 * torch.rand(4, 2, 1, 4, 4)

    def grads(path: str) -> list[torch.Tensor]:
        model.zero_grad(set_to_none=True)
        out = model(x, joint=True)
        ann_loss = sum(z.square().sum() for z in out["ann_logits"])
        snn_loss = sum(z.square().sum() for z in out["snn_logits"])
        loss = {"ann": ann_loss, "snn": snn_loss, "both": ann_loss + snn_loss}[path]
        loss.backward()
        return [f.U.grad.clone() for f in factors] + [f.V.grad.clone() for f in factors]

    ann, snn, both = grads("ann"), grads("snn"), grads("both")
    for g_a, g_s, g_b in zip(ann, snn, both, strict=True):
        assert g_a.abs().sum() > 0 and g_s.abs().sum() > 0
        torch.testing.assert_close(g_b, g_a + g_s)
    # the ANN path alone never touches the SNN singular values, and vice versa
    grads("ann")
    assert all(f.sigma_snn.grad is None and f.sigma_ann.grad is not None for f in factors)
    grads("snn")
    assert all(f.sigma_ann.grad is None and f.sigma_snn.grad is not None for f in factors)
