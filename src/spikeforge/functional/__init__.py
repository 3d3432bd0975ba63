"""Pure neuron dynamics over ``[T, B, ...]``: ``f(x, state, params) -> (out, state)``."""

from .alif import ALIFParameters as ALIFParameters
from .alif import alif_sequence as alif_sequence
from .alif import alif_step as alif_step
from .cuba import CuBaParameters as CuBaParameters
from .cuba import cuba_sequence as cuba_sequence
from .cuba import cuba_step as cuba_step
from .lif import LIFParameters as LIFParameters
from .lif import lif_sequence as lif_sequence
from .lif import lif_step as lif_step
from .readout import li_sequence as li_sequence
from .readout import li_step as li_step
from .reset import apply_reset as apply_reset
from .reset import fire as fire
from .rlif import RLIFParameters as RLIFParameters
from .rlif import rlif_sequence as rlif_sequence
from .rlif import rlif_step as rlif_step
from .scan import scan as scan
from .spike import spike as spike
from .state import ALIFState as ALIFState
from .state import CuBaState as CuBaState
from .state import LIFState as LIFState
from .state import LIState as LIState
from .state import RLIFState as RLIFState
