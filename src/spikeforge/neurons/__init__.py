"""Spiking neuron modules over ``[T, B, ...]`` and the neuron registry."""

from .alif import ALIF as ALIF
from .base import SpikingNeuron as SpikingNeuron
from .cuba import CuBa as CuBa
from .lif import IF as IF
from .lif import LIF as LIF
from .lif import PLIF as PLIF
from .paralif import ParaLI as ParaLI
from .paralif import ParaLIF as ParaLIF
from .psn import PSN as PSN
from .psn import MaskedPSN as MaskedPSN
from .psn import SlidingPSN as SlidingPSN
from .psu import IPSU as IPSU
from .psu import PSU as PSU
from .psu import RPSU as RPSU
from .readout import LI as LI
from .registry import NEURONS as NEURONS
from .registry import create_neuron as create_neuron
from .rlif import RLIF as RLIF
