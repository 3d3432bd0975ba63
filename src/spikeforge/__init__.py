"""spikeforge: train, convert, distill and measure spiking neural networks in PyTorch.

Time convention: every spiking tensor is ``[T, B, ...]`` (time first). Neurons fire
when the membrane reaches the threshold, ``H >= V_th``.
"""

from . import analysis as analysis
from . import data as data
from . import encoding as encoding
from . import engine as engine
from . import functional as functional
from . import kernels as kernels
from . import layers as layers
from . import losses as losses
from . import methods as methods
from . import models as models
from . import neurons as neurons
from . import surrogates as surrogates

__version__ = "0.1.0"
