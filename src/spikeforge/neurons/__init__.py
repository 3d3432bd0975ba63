"""Spiking neuron modules over ``[T, B, ...]`` and the neuron registry.

Bad values are refused where they enter, with a ``ValueError`` naming them:

- parameters at construction: ``LIF(tau=float("nan"))``, ``v_th=inf``, ... (every
  scalar parameter must be finite, and in its documented range, e.g. ``tau >= 1``);
- input at every call (``neuron(x)``, ``.run``, ``.step``): NaN or ±inf in ``x`` raises
  "input to LIF layer contains NaN at index [t, b, ...] ...", instead of silently
  reading as "no spike" and staying in the membrane for the rest of the sequence.

The input check costs one reduction and one host sync per neuron call (a sum is NaN
or inf when any entry is; the IF/LIF family and LI sum their final state, which keeps
any NaN/inf of the input, ``T`` times smaller than the input); its cost has not been
measured by a benchmark on an idle machine. To skip it for speed, set the environment variable
``SPIKEFORGE_CHECK_FINITE=0`` (read once, at import) or call
``spikeforge.neurons.set_finite_check(False)`` (returns the previous setting;
``finite_check_enabled()`` reads it). Off, NaN input goes undetected.
"""

from .alif import ALIF as ALIF
from .base import SpikingNeuron as SpikingNeuron
from .base import finite_check_enabled as finite_check_enabled
from .base import set_finite_check as set_finite_check
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
