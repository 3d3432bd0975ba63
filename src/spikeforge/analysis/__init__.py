"""Analysis: activity monitors (energy and reports build on these)."""

from .monitors import FiringRateMonitor as FiringRateMonitor
from .monitors import spiking_layers as spiking_layers
