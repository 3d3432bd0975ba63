"""The fused backends of the neuron kernels, registered into the one dispatch table.

The table and its dispatch live in :mod:`spikeforge.functional.backends`, below this
package (the dynamics dispatch through it without importing the kernels; each plain-torch
reference registers itself there as its family's ``"torch"`` kernel). Importing this
package registers the fused backends: ``cpu/`` (C + OpenMP) and ``triton/`` (GPU; imports
no ``triton`` until a kernel runs). What every fused family shares (codes, checks,
autograd plumbing) is :mod:`._fused_common`. The table's names are re-exported here.

Families: ``"lif"`` ``kernel(x [T, B, ...], v0 [B, ...], p: LIFParameters) ->
(spikes, v_final)``; ``"leaky"`` (first-order linear scans) ``kernel(x, y0, p:
LeakyParameters) -> (y [T, B, ...], y[T-1])``; ``"alif"`` ``kernel(x, v0, a0, p:
ALIFParameters) -> (spikes, v, a)``. ``"auto"`` tries the fused backends in
:data:`AUTO_ORDER` and takes the first whose ``supports`` accepts the input, falling back
to ``"torch"``.
"""

from __future__ import annotations

from ..functional.backends import AUTO_ORDER as AUTO_ORDER
from ..functional.backends import BACKENDS as BACKENDS
from ..functional.backends import Kernel as Kernel
from ..functional.backends import available as available
from ..functional.backends import dispatch as dispatch
from ..functional.backends import register_kernel as register_kernel
from . import cpu as cpu  # registers the "cpu" kernels
from . import triton as triton  # registers the "triton" kernels (imports no triton)

__all__ = ["AUTO_ORDER", "BACKENDS", "Kernel", "available", "dispatch", "register_kernel"]
