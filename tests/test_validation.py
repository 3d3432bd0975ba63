import pytest
import torch

from spikeforge._validation import check_choice, check_positive, check_sequence, check_state_shape


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
