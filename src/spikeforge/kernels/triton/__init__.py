"""Fused multi-step Triton GPU kernels: the ``"lif"`` family (IF, LIF both charge forms, PLIF)
the ``"alif"`` family (adaptive threshold, :mod:`.alif`) and the ``"leaky"`` family
(first-order linear scans: LI readout, CuBa current, :mod:`.leaky`).

Work split: ``[T, B, ...]`` is flattened to ``[T, N]``; one program per block of
``BLOCK`` neurons walks all T steps with the membrane in registers, so forward reads ``x``
once and writes the spikes once. Backward is one kernel that recomputes ``H`` per block
and then runs the reverse pass over T (see :mod:`.lif` for what is saved and why).

``triton`` is imported lazily (``import spikeforge`` never imports it) and the kernels
are built on first use. Without a CUDA tensor ``supports`` declines, so ``backend="auto"``
moves on to the ``"cpu"`` kernel; with ``TRITON_INTERPRET=1`` CPU tensors are accepted
and run through Triton's interpreter, which is how the tests exercise the kernels on a
machine without a GPU.
"""

from __future__ import annotations

from ...functional.backends import register_kernel
from . import alif, leaky
from .lif import lif_sequence_triton, supports

register_kernel("lif", "triton", supports=supports)(lif_sequence_triton)
register_kernel("leaky", "triton", supports=leaky.supports)(leaky.leaky_scan_triton)
register_kernel("alif", "triton", supports=alif.supports)(alif.alif_sequence_triton)

__all__ = ["lif_sequence_triton", "supports"]
