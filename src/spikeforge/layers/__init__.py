"""Building blocks over ``[T, B, ...]``: time folding for stateless layers, tdBN."""

from .residual import CONNECT_FUNCTIONS as CONNECT_FUNCTIONS
from .residual import SpikeJoin as SpikeJoin
from .residual import SynAGate as SynAGate
from .residual import connect as connect
from .residual import sew_add as sew_add
from .residual import sew_and as sew_and
from .residual import sew_iand as sew_iand
from .residual import spike_or as spike_or
from .tdbn import ThresholdDependentBatchNorm as ThresholdDependentBatchNorm
from .time_fold import TimeFold as TimeFold
from .time_fold import fold as fold
