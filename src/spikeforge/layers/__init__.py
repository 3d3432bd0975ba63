"""Building blocks over ``[T, B, ...]``: time folding for stateless layers, tdBN."""

from .tdbn import ThresholdDependentBatchNorm as ThresholdDependentBatchNorm
from .time_fold import TimeFold as TimeFold
from .time_fold import fold as fold
