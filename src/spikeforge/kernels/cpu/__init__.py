"""Fused multi-step CPU kernels: the ``"lif"`` family (IF, LIF both charge forms, PLIF), the
``"alif"`` family (adaptive threshold, :mod:`.alif`), the ``"leaky"`` family
(first-order linear scans: LI readout, CuBa current; :mod:`.leaky`) and the ``"psn"``
family (spikes of a temporal product ``Θ(W X + b)``: the PSN neurons; :mod:`.psn`).

Why plain C compiled at first use (``lif.c``, ``alif.c``, ``leaky.c``: OpenMP, ctypes)
rather than the alternatives:

- **torch C++ extension** (``torch.utils.cpp_extension.load``): pulls in the torch headers,
  so a first build takes 30-60 s and needs ninja and a matching C++ ABI; the kernel only
  needs raw pointers, so the C files (one per kernel family, float and double compiled in
  parallel) build in about 7 s on 2 cores with nothing but gcc, once per machine.
- **``torch.compile``**: measured slower than eager for forward+backward here and takes
  10-40 s to compile (see ``PERF_NOTES.md``); it also cannot express the reverse-time
  recurrence of backward as one pass.
- **numba / cffi**: extra runtime dependencies for the package.
- **eager torch**: one pass over memory per elementwise op per step; the fused loop reads
  ``x`` once and writes spikes once, with the membrane of a block of neurons in cache.

Work split: ``[T, B, ...]`` is flattened to ``[T, N]``; OpenMP threads
(``torch.get_num_threads()`` of them, sharing torch's own libgomp) take contiguous blocks
of neurons and walk all T steps of a block. The C code mirrors the reference's arithmetic
operation by operation and is built with ``-ffp-contract=off``, so spikes are
bit-identical to the ``"torch"`` backend.

Memory: forward reads ``x`` and writes the spikes and the final membrane, nothing else.
Backward recomputes ``H`` for one block of neurons at a time into a per-thread buffer
that stays in cache and then runs one reverse pass, so autograd saves no new tensor —
only references to the layer's inputs ``x`` and ``v0`` (counted by
``saved_tensors_hooks`` as 4 B per neuron-step in float32, against 12 B for the torch
reference and SpikingJelly). Outputs of 1 MiB or more come from a small caching pool
(:mod:`._pool`) because glibc hands most such allocations back page-faulted afresh.

The library is cached per (source, flags, compiler, CPU) in ``$SPIKEFORGE_CACHE`` or
``~/.cache/spikeforge/kernels``; the compiler is ``$SPIKEFORGE_CC`` (default ``gcc``).
If it cannot be built, ``supports`` returns the reason, ``backend="auto"`` falls back to
the reference and one ``RuntimeWarning`` per process names the cause.

Each family is a pair of ``torch.library`` custom ops wrapping the ctypes calls
(``spikeforge::lif_forward`` / ``lif_backward``, ``alif_*``, ``leaky_*``): the forward
op has a fake implementation (output shapes and dtypes) and an autograd formula whose
backward calls the backward op. The registered kernels call the forward ops, so eager
results are the C code's, and ``torch.compile(model, fullgraph=True)`` and
``torch.export`` see each kernel as one graph node instead of breaking on ctypes.
"""

from __future__ import annotations

from ...functional.backends import register_kernel
from . import alif, leaky, psn
from .lif import lif_sequence_cpu, supports

register_kernel("lif", "cpu", supports=supports)(lif_sequence_cpu)
register_kernel("leaky", "cpu", supports=leaky.supports)(leaky.leaky_scan_cpu)
register_kernel("alif", "cpu", supports=alif.supports)(alif.alif_sequence_cpu)
register_kernel("psn", "cpu", supports=psn.supports)(psn.psn_spikes_cpu)

__all__ = ["lif_sequence_cpu", "supports"]
