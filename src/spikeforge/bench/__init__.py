"""Benchmarks of spikeforge against its peers (``spikeforge bench ...``)."""
