"""What every image model of the zoo shares (``models/_common.py``): the time-major input
check and the per-step classifier."""

import pytest
import torch
from torch import nn

from spikeforge.layers import TimeFold
from spikeforge.models import create
from spikeforge.models._common import check_image_sequence, classifier


def test_the_input_check_accepts_only_time_major_image_batches():
    check_image_sequence(torch.zeros(2, 3, 4, 8, 8), 4)  # [T, B, C, H, W]: fine
    check_image_sequence(torch.zeros(1, 1, 1, 5, 7), 1)  # any H, W
    with pytest.raises(
        ValueError, match=r"\[T, B, 4, H, W\] \(time first\), got shape \(3, 4, 8, 8\)"
    ):
        check_image_sequence(torch.zeros(3, 4, 8, 8), 4)  # a batch without time
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 8, 8, 4\)"):
        check_image_sequence(torch.zeros(2, 3, 8, 8, 4), 4)  # channels last
    with pytest.raises(TypeError, match="input must be a tensor .* got list"):
        check_image_sequence([[0.0]], 1)


def test_bad_input_shapes_name_expected_and_received():
    model = create("sew_resnet18", base_width=4, in_channels=2)
    with pytest.raises(ValueError, match=r"\[T, B, 2, H, W\].*got shape \(2, 3, 16, 16\)"):
        model(torch.zeros(2, 3, 16, 16))
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 3, 8, 8\)"):
        model(torch.zeros(2, 3, 3, 8, 8))
    with pytest.raises(TypeError, match="must be a tensor"):
        model([0.0])


def test_classifier_is_a_per_step_linear_layer():
    torch.manual_seed(0)
    head = classifier(6, 3)
    assert isinstance(head, TimeFold)
    x = torch.randn(4, 2, 6)  # [T, B, features]
    (linear,) = [m for m in head.modules() if isinstance(m, nn.Linear)]
    assert (linear.in_features, linear.out_features) == (6, 3)
    out = head(x)
    assert out.shape == (4, 2, 3)
    for t in range(4):  # each step alone through the same weights
        torch.testing.assert_close(out[t], x[t] @ linear.weight.T + linear.bias)


def test_classifier_with_no_classes_is_the_identity_and_bad_counts_are_refused():
    head = classifier(6, 0)
    assert isinstance(head, nn.Identity)
    x = torch.randn(2, 1, 6)
    assert head(x) is x
    for bad in (-1, 2.0, "10"):
        with pytest.raises(ValueError, match="num_classes must be an int >= 0"):
            classifier(6, bad)  # type: ignore[arg-type]
