"""CuBa, ALIF and LI on fused CPU kernels vs the torch reference and peers; see
:mod:`spikeforge.bench.variants`.

Usage: ``python benchmarks/neuron_variants.py [--quick] [--json PATH] [--out PATH]``.
"""

from spikeforge.bench.variants import main

if __name__ == "__main__":
    raise SystemExit(main())
