"""CuBa and LI on the fused leaky kernel vs the torch reference and peers; see
:mod:`spikeforge.bench.leaky`.

Usage: ``python benchmarks/leaky_neurons.py [--quick] [--json PATH] [--out PATH]``.
"""

from spikeforge.bench.leaky import main

if __name__ == "__main__":
    raise SystemExit(main())
