import numpy as np
import pytest

from spikeforge.data.events import EVENT_DTYPE, check_events, make_events


def test_make_events() -> None:
    ev = make_events([1, 2], [3, 4], [0, 1], [10, 20])
    assert ev.dtype == EVENT_DTYPE and ev.tolist() == [(1, 3, 0, 10), (2, 4, 1, 20)]
    with pytest.raises(ValueError, match="same length"):
        make_events([1], [2, 3], [0], [0])


def test_check_events() -> None:
    with pytest.raises(TypeError, match="structured numpy array"):
        check_events(np.zeros(3))
    with pytest.raises(ValueError, match="lacks fields"):
        check_events(np.zeros(2, dtype=[("x", "u2"), ("t", "i8")]))
    with pytest.raises(ValueError, match="1-D"):
        check_events(np.zeros((2, 2), dtype=EVENT_DTYPE))
