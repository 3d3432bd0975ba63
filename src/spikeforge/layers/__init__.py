"""Building blocks over ``[T, B, ...]``: time folding for stateless layers, tdBN."""

from .memory import MemoryStats as MemoryStats
from .memory import PackedSpikes as PackedSpikes
from .memory import compact_activations as compact_activations
from .memory import pack_spikes as pack_spikes
from .memory import unpack_spikes as unpack_spikes
from .recompute import MEMORY_MODES as MEMORY_MODES
from .recompute import RecomputePlan as RecomputePlan
from .recompute import checkpoint_blocks as checkpoint_blocks
from .recompute import memory_mode as memory_mode
from .recompute import plan_recompute as plan_recompute
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
