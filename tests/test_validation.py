import pytest
import torch

from spikeforge._validation import (
    check_choice,
    check_finite,
    check_finite_input,
    check_positive,
    check_sequence,
    check_state_shape,
    sum_is_finite,
)


def test_check_sequence_rejects_rank_type_and_empty_time():
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\].*got shape \(5,\)"):
        check_sequence(torch.zeros(5))
    with pytest.raises(TypeError, match="got list"):
        check_sequence([1, 2])
    with pytest.raises(ValueError, match="zero time steps"):
        check_sequence(torch.zeros(0, 3))
    x = torch.zeros(2, 3)
    assert check_sequence(x) is x


def test_positive_and_choice():
    check_positive(1.0, "tau")
    check_positive(0.0, "leak", allow_zero=True)
    with pytest.raises(ValueError, match="tau must be > 0, got -1"):
        check_positive(-1, "tau")
    with pytest.raises(ValueError, match=r"reset must be one of \('a', 'b'\), got 'c'"):
        check_choice("c", "reset", ["a", "b"])


def test_state_shape_mismatch_hints_at_swapped_axes():
    check_state_shape(torch.Size([4, 3]), torch.Size([4, 3]), sequence=True)
    with pytest.raises(ValueError, match=r"did you pass \[B, T, \.\.\.\]"):
        check_state_shape(torch.Size([8, 3]), torch.Size([4, 3]), sequence=True)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_positive_and_finite_refuse_nan_and_inf(bad):
    # nan <= 0 is False: a bare comparison used to let NaN (and +inf) through.
    with pytest.raises(ValueError, match="tau must be a finite number, got"):
        check_positive(bad, "tau")
    with pytest.raises(ValueError, match="v_th must be a finite number"):
        check_finite(bad, "v_th")
    with pytest.raises(ValueError, match=r"scale must be finite, got a tensor of shape \(2,\)"):
        check_positive(torch.tensor([1.0, bad]), "scale")
    check_finite(torch.tensor([1, 2]), "ints")  # integer tensors are always finite
    with pytest.raises(TypeError, match="tau must be a number, got str"):
        check_finite("2", "tau")


def test_check_finite_input_locates_the_first_bad_entry_and_counts_kinds():
    x = torch.zeros(3, 2, 4)
    x[1, 0, 2], x[2, 1, 3], x[2, 0, 0] = NAN, INF, -INF
    message = (
        r"input to X contains NaN at index \[1, 0, 2\] \(of shape \(3, 2, 4\) = "
        r"\[T, B, \.\.\.\]; 1 NaN, 1 \+inf, 1 -inf in all\)!"
    )
    with pytest.raises(ValueError, match=message):
        check_finite_input(x, "input to X", "[T, B, ...]", "!")
    assert sum_is_finite(torch.ones(3)) and not sum_is_finite(torch.ones(2), x)
    check_finite_input(torch.tensor([1, 2]), "ints")


def test_check_finite_input_passes_large_finite_values_whose_sum_overflows():
    big = torch.full((4, 1000), 3e38)
    assert not sum_is_finite(big)  # the cheap test cannot tell ...
    check_finite_input(big, "x")  # ... so the exact one decides: all finite
    check_finite_input(torch.full((100, 1000), 60000.0, dtype=torch.float16), "x")
    with pytest.raises(ValueError, match=r"\+inf at index \[0, 3\]"):
        check_finite_input(torch.tensor([[1.0, 1.0, 1.0, INF]], dtype=torch.float16), "x")
