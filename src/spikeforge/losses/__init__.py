"""Training objectives on output activity ``[T, B, C]`` and activity regularizers."""

from .objectives import OBJECTIVES as OBJECTIVES
from .objectives import CEMembrane as CEMembrane
from .objectives import CEPerStep as CEPerStep
from .objectives import CERate as CERate
from .objectives import CETemporal as CETemporal
from .objectives import MSECount as MSECount
from .objectives import MSEMembrane as MSEMembrane
from .objectives import MSETemporal as MSETemporal
from .objectives import check_targets as check_targets
from .objectives import first_spike_time as first_spike_time
from .regularizers import REGULARIZERS as REGULARIZERS
from .regularizers import L1Rate as L1Rate
from .regularizers import RateBounds as RateBounds
from .trevsnn import LastStepDecoder as LastStepDecoder
from .trevsnn import TRevSNNLoss as TRevSNNLoss
