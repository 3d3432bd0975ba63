import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeforge.methods.distill.losses import (
    Adapter,
    attention_loss,
    attention_map,
    branch_kl,
    channel_margins,
    feature_l2,
    gradient_map,
    input_gradient,
    joint_asnn_loss,
    kd_kl,
    margin_relu,
    normalize_map,
    partial_l2,
    resize,
    response_kd,
    spike_activation_map,
    spike_contribution,
)


def softmax(values: list[float]) -> list[float]:
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def hand_kl(z_s: list[float], z_t: list[float], tau: float) -> float:
    p_t = softmax([v / tau for v in z_t])
    p_s = softmax([v / tau for v in z_s])
    return tau * tau * sum(a * (math.log(a) - math.log(b)) for a, b in zip(p_t, p_s, strict=True))


def test_kd_kl_and_response_kd_equal_hand_computation():
    z_s, z_t = [1.0, 0.0, -1.0], [0.0, 2.0, 0.5]
    tau, alpha = 2.0, 0.25
    ce = -math.log(softmax(z_s)[1])
    kl = hand_kl(z_s, z_t, tau)
    zs, zt, y = torch.tensor([z_s]), torch.tensor([z_t]), torch.tensor([1])
    assert kd_kl(zs, zt, tau).item() == pytest.approx(kl, rel=1e-5)
    expected = (1 - alpha) * ce + alpha * kl
    assert response_kd(zs, zt, y, tau, alpha).item() == pytest.approx(expected, rel=1e-5)
    # batch mean over two samples
    zs2 = torch.tensor([z_s, z_t])
    zt2 = torch.tensor([z_t, z_s])
    mean_kl = (hand_kl(z_s, z_t, tau) + hand_kl(z_t, z_s, tau)) / 2
    assert kd_kl(zs2, zt2, tau).item() == pytest.approx(mean_kl, rel=1e-5)
    assert response_kd(zs, zt, y, tau, 0.0).item() == pytest.approx(ce, rel=1e-5)


def test_response_kd_rejects_bad_options():
    z = torch.zeros(2, 3)
    y = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="tau must be >= 1"):
        response_kd(z, z, y, tau=0.5)
    with pytest.raises(ValueError, match="alpha"):
        response_kd(z, z, y, alpha=1.5)
    with pytest.raises(ValueError, match="equal shapes"):
        kd_kl(z, torch.zeros(2, 4))


def test_channel_margins_and_margin_relu_by_hand():
    # channel 0: values -1, 3, -3, 0 -> negatives mean -2; channel 1: all >= 0 -> 0
    feats = torch.tensor([[[[-1.0, 3.0]], [[1.0, 2.0]]], [[[-3.0, 0.0]], [[0.0, 5.0]]]])
    margins = channel_margins(feats)
    torch.testing.assert_close(margins, torch.tensor([-2.0, 0.0]))
    x = torch.tensor([[[[-5.0, -1.0]], [[-0.5, 2.0]]]])
    expected = torch.tensor([[[[-2.0, -1.0]], [[0.0, 2.0]]]])
    torch.testing.assert_close(margin_relu(x, margins), expected)
    with pytest.raises(ValueError, match="channels"):
        margin_relu(x, torch.zeros(3))


def test_partial_l2_skips_student_below_non_positive_teacher():
    s = torch.tensor([[-2.0, -0.5, 1.0, 0.5, 0.0]])
    t = torch.tensor([[-1.0, -1.0, -1.0, 2.0, 0.0]])
    # kept: (s > t) | (t > 0) -> F, T, T, T, F -> 0.25 + 4 + 2.25
    assert partial_l2(s, t, "sum").item() == pytest.approx(6.5)
    assert partial_l2(s, t, "mean").item() == pytest.approx(6.5 / 5)
    assert partial_l2(s.expand(2, 5), t.expand(2, 5), "batchmean").item() == pytest.approx(6.5)
    with pytest.raises(ValueError, match="equal shapes"):
        partial_l2(s, t[:, :3])


def test_adapter_is_a_1x1_conv_then_resize():
    adapter = Adapter(2, 3)
    s = torch.randn(1, 2, 4, 4)
    out = adapter(s)
    w, b = adapter.conv.weight[:, :, 0, 0], adapter.conv.bias
    torch.testing.assert_close(out, torch.einsum("oc,bchw->bohw", w, s) + b.view(1, 3, 1, 1))
    assert adapter(s, size=(2, 2)).shape == (1, 3, 2, 2)
    torch.testing.assert_close(adapter(s, size=(2, 2)), F.avg_pool2d(out, 2))
    assert adapter(s, size=(8, 8)).shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match=r"\[B, 2, H, W\]"):
        adapter(torch.randn(1, 3, 4, 4))


def test_resize_keeps_matching_size_and_interpolates():
    x = torch.randn(1, 1, 4, 4)
    assert resize(x, (4, 4)) is x
    assert resize(x, (6, 6)).shape == (1, 1, 6, 6)


def test_attention_map_by_hand_and_unit_norm():
    a = torch.tensor([[[[1.0, 2.0]], [[3.0, 0.0]]]])  # [1, 2, 1, 2]
    norm = math.sqrt(10.0**2 + 4.0**2)
    torch.testing.assert_close(attention_map(a), torch.tensor([[10.0 / norm, 4.0 / norm]]))
    q = attention_map(torch.randn(3, 4, 5, 5))
    assert q.shape == (3, 25)
    torch.testing.assert_close(q.norm(dim=1), torch.ones(3))
    assert normalize_map(torch.zeros(2, 3, 3)).abs().sum() == 0


def test_attention_loss_by_hand():
    q_s = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    q_t = torch.tensor([[0.0, 1.0], [0.6, 0.8]])
    assert attention_loss(q_s, q_t).item() == pytest.approx(math.sqrt(2) / 2)
    with pytest.raises(ValueError, match="equal shapes"):
        attention_loss(q_s, q_t[:, :1])


def test_gradient_attention_of_a_linear_teacher_is_the_analytic_input_gradient():
    torch.manual_seed(0)
    linear = nn.Linear(2 * 3 * 3, 4, bias=False)
    teacher = nn.Sequential(nn.Flatten(), linear).requires_grad_(False)
    x = torch.randn(5, 2, 3, 3)
    y = torch.tensor([0, 1, 2, 3, 1])
    with torch.no_grad():  # works inside no_grad (the Trainer's evaluation)
        grad = input_gradient(teacher, x, y)
    z = linear(x.flatten(1))
    analytic = (torch.softmax(z, -1) - F.one_hot(y, 4).float()) @ linear.weight
    torch.testing.assert_close(grad, analytic.view_as(x))
    torch.testing.assert_close(gradient_map(grad), analytic.view_as(x).abs().sum(1))
    assert linear.weight.grad is None


def test_spike_activation_map_on_a_hand_made_spike_train():
    gamma = 0.5
    spikes = torch.zeros(4, 1, 2, 1, 1)  # [T, B, C, H, W]
    spikes[:, 0, 0, 0, 0] = torch.tensor([1.0, 1.0, 0.0, 1.0])
    spikes[:, 0, 1, 0, 0] = torch.tensor([0.0, 1.0, 0.0, 1.0])
    e = math.exp
    # channel 0: NCS = [0, e^-γ, e^-2γ + e^-γ, e^-3γ + e^-2γ]; spikes at t = 0, 1, 3
    ncs0 = [0.0, e(-gamma), e(-2 * gamma) + e(-gamma), e(-3 * gamma) + e(-2 * gamma)]
    # channel 1: spikes at t = 1, 3 -> NCS[3] = e^-2γ
    ncs1 = [0.0, 0.0, e(-gamma), e(-2 * gamma)]
    torch.testing.assert_close(
        spike_contribution(spikes, gamma)[:, 0, :, 0, 0], torch.tensor([ncs0, ncs1]).T
    )
    expected = ncs0[0] + ncs0[1] + ncs0[3] + ncs1[1] + ncs1[3]
    sam = spike_activation_map(spikes, gamma)
    assert sam.shape == (1, 1, 1)
    assert sam.item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match=r"\[T, B, C, H, W\]"):
        spike_activation_map(spikes[0], gamma)


def test_joint_losses_by_hand():
    z_snn, z_ann = [0.5, -0.5], [2.0, 0.0]
    y = torch.tensor([0])
    s, a = torch.tensor([z_snn], requires_grad=True), torch.tensor([z_ann], requires_grad=True)
    kl = branch_kl(s, a)
    assert kl.item() == pytest.approx(hand_kl(z_snn, z_ann, 1.0), rel=1e-5)
    kl.backward()
    assert a.grad is None and s.grad is not None
    f_s, f_a = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    assert feature_l2(f_s, f_a).item() == pytest.approx((1 + 4) / 2)
    terms = joint_asnn_loss([s], [a], [f_s], [f_a], y, lambda_kl=0.5, lambda_l2=2.0)
    ce = -math.log(softmax(z_snn)[0]) - math.log(softmax(z_ann)[0])
    assert terms["ce"].item() == pytest.approx(ce, rel=1e-5)
    expected = ce + 0.5 * hand_kl(z_snn, z_ann, 1.0) + 2.0 * 2.5
    assert terms["loss"].item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="per branch"):
        joint_asnn_loss([s], [], [], [], y)


def test_normalize_map_passes_no_gradient_through_an_empty_map():
    m = torch.tensor([[[0.0, 0.0]], [[3.0, 4.0]]], dtype=torch.float64, requires_grad=True)
    q = normalize_map(m)
    torch.testing.assert_close(q, torch.tensor([[0.0, 0.0], [0.6, 0.8]], dtype=torch.float64))
    (q * torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)).sum().backward()
    assert m.grad[0].abs().sum() == 0
    reference = m.detach().clone().requires_grad_(True)
    F.normalize(reference[1:].flatten(1), dim=1).mul(torch.tensor([[0.5, 3.0]])).sum().backward()
    torch.testing.assert_close(m.grad[1:], reference.grad[1:])
    nonzero = torch.rand(2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(normalize_map, (nonzero,))


def test_empty_spike_activation_map_gives_a_bounded_attention_gradient():
    # every neuron spikes once (at t=0): the map Σ NCS·S is empty, yet ∂M/∂S[1] = e^-γ ≠ 0;
    # dividing the empty map by eps sent a 1e12 gradient into the spikes
    spikes = torch.zeros(3, 2, 4, 2, 2, dtype=torch.float64)
    spikes[0] = 1.0
    spikes[:, 1, :, 0, 0] = 1.0  # sample 1 fires at every step: its map is not empty
    spikes.requires_grad_(True)
    s_map = spike_activation_map(spikes, 0.5)
    assert s_map[0].abs().sum() == 0 and s_map[1].abs().sum() > 0
    t_map = torch.rand(2, 2, 2, dtype=torch.float64)
    attention_loss(normalize_map(s_map), normalize_map(t_map)).backward()
    assert torch.isfinite(spikes.grad).all()
    assert spikes.grad[:, 0].abs().max() == 0
    assert 0 < spikes.grad[:, 1].abs().max() < 10
