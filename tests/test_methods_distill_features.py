import pytest
import torch
from torch import nn

from spikeforge.layers import fold
from spikeforge.methods.distill.features import (
    capture,
    get_layer,
    infer_channels,
    student_feature,
    student_forward,
    teacher_forward,
    unfold_time,
)
from spikeforge.models import create
from spikeforge.neurons import LIF


def tiny_student() -> nn.Module:
    # "0" conv-BN, "1" LIF, "2" conv-BN, "3" LIF, "4" readout
    return create("csnn_tiny", num_classes=3, in_channels=1, input_size=4, widths=(2, 3))


def tiny_teacher() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 2 * 2, 3),
    ).eval()


def test_capture_records_outputs_and_inputs_and_removes_hooks():
    net = tiny_teacher()
    x = torch.randn(2, 1, 4, 4)
    with capture(net, ["1", "2"]) as outs, capture(net, ["2"], inputs=True) as ins:
        net(x)
    expected_bn = net[1](net[0](x))
    torch.testing.assert_close(outs["1"], expected_bn)
    torch.testing.assert_close(outs["2"], expected_bn.relu())
    torch.testing.assert_close(ins["2"], expected_bn)
    assert all(not m._forward_hooks for m in net.modules())


def test_unknown_layer_names_the_choices():
    with pytest.raises(ValueError, match="has no layer 'nope'; expected one of: 0, 1"):
        get_layer(tiny_teacher(), "nope")
    with pytest.raises(ValueError, match="has no layer"), capture(tiny_teacher(), ["9"]):
        pass


def test_teacher_forward_runs_without_grad_and_checks_layers_ran():
    net = tiny_teacher()
    logits, feats = teacher_forward(net, torch.randn(2, 1, 4, 4), ["1"])
    assert logits.shape == (2, 3) and feats["1"].shape == (2, 4, 4, 4)
    assert not logits.requires_grad and not feats["1"].requires_grad

    class Skip(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used, self.unused = nn.Identity(), nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x)

    with pytest.raises(ValueError, match="did not run"):
        teacher_forward(Skip(), torch.zeros(1, 2), ["unused"])


def test_student_rate_is_time_mean_of_spikes_and_membrane_of_input_current():
    torch.manual_seed(0)
    student = tiny_student()
    x = 3 * torch.rand(4, 2, 1, 4, 4)
    out, rates, raw = student_forward(student, x, ["1"], "rate")
    assert out.shape == (4, 2, 3)
    spikes = raw["1"]
    assert spikes.shape == (4, 2, 2, 4, 4) and set(spikes.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(rates["1"], spikes.mean(0))
    assert rates["1"].requires_grad  # the graph is kept for the distillation loss
    _, membrane, raw2 = student_forward(student, x, ["1"], "membrane")
    current = student[0](x)  # the neuron's input: conv-BN output [T, B, C, H, W]
    torch.testing.assert_close(membrane["1"], current.mean(0))
    torch.testing.assert_close(raw2["1"], spikes)
    with pytest.raises(ValueError, match="student_features"):
        student_feature(spikes, "voltage")


def test_a_layer_on_time_folded_inputs_is_recorded_per_step():
    """A pool inside ``fold`` sees ``[T·B, C, H, W]``: its record is ``[T, B, C, H, W]``
    (step t, sample b = the folded row t·B + b), its rate the mean over T per sample."""
    torch.manual_seed(0)
    pool = nn.AvgPool2d(2)
    student = nn.Sequential(fold(nn.Conv2d(1, 2, 3, padding=1)), LIF(), fold(pool))
    x = 3 * torch.rand(4, 3, 1, 4, 4)  # T=4, B=3
    _, rates, raw = student_forward(student, x, ["2"], "rate")
    spikes = student[1](student[0](x))
    want = torch.stack([pool(spikes[t]) for t in range(4)])  # [T, B, 2, 2, 2]
    torch.testing.assert_close(raw["2"], want)
    torch.testing.assert_close(rates["2"], want.mean(0))
    folded = want.flatten(0, 1)
    assert torch.equal(unfold_time(folded, 4, 3), want) and unfold_time(want, 4, 3) is want
    with pytest.raises(ValueError, match=r"expected \[T, B, ...\] or \[T\*B, ...\] with T=4, B=3"):
        unfold_time(torch.zeros(5, 2), 4, 3)


def test_infer_channels_probes_in_eval_mode_and_restores_mode():
    student, teacher = tiny_student(), tiny_teacher()
    bn = student[0].layer[1]
    before = bn.running_mean.clone()
    channels = infer_channels(teacher, student, [("1", "1"), ("1", "3")], torch.rand(2, 2, 1, 4, 4))
    assert channels == [(2, 4), (3, 4)]
    assert student.training
    torch.testing.assert_close(bn.running_mean, before)
