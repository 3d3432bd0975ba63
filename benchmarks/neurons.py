"""Side-by-side LIF benchmark; see :mod:`spikeforge.bench.neurons`.

Usage: ``python benchmarks/neurons.py [--quick] [--json PATH]``.
"""

from spikeforge.bench.neurons import main

if __name__ == "__main__":
    raise SystemExit(main())
