"""Side-by-side LIF benchmark; see :mod:`spikeforge.bench.neurons`.

Usage: ``python benchmarks/neurons.py [--quick] [--json PATH] [--max-wait S]
[--device cpu|cuda]`` (``--device cuda``: our reference, the fused Triton kernel and the
peers on the GPU; exits with status 2 when torch sees no CUDA device).
"""

from spikeforge.bench.neurons import main

if __name__ == "__main__":
    raise SystemExit(main())
