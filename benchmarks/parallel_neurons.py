"""Parallel neurons (PSN / PSU / ParaLIF) vs sequential LIF; see :mod:`spikeforge.bench.parallel`.

Usage: ``python benchmarks/parallel_neurons.py [--quick] [--json PATH] [--out PATH]``.
"""

from spikeforge.bench.parallel import main

if __name__ == "__main__":
    raise SystemExit(main())
