"""Encoders (analog → spikes ``[T, B, ...]``) and decoders (``[T, B, C]`` → ``[B, C]``)."""

from .decoders import DECODERS as DECODERS
from .decoders import READOUT_KINDS as READOUT_KINDS
from .decoders import FirstSpikeDecoder as FirstSpikeDecoder
from .decoders import MembraneDecoder as MembraneDecoder
from .decoders import PopulationDecoder as PopulationDecoder
from .decoders import RateDecoder as RateDecoder
from .decoders import first_spike_decode as first_spike_decode
from .decoders import membrane_decode as membrane_decode
from .decoders import population_decode as population_decode
from .decoders import rate_decode as rate_decode
from .encoders import ENCODERS as ENCODERS
from .encoders import DeltaEncoder as DeltaEncoder
from .encoders import DirectEncoder as DirectEncoder
from .encoders import LatencyEncoder as LatencyEncoder
from .encoders import PoissonEncoder as PoissonEncoder
from .encoders import PopulationEncoder as PopulationEncoder
from .encoders import delta as delta
from .encoders import direct as direct
from .encoders import latency as latency
from .encoders import latency_times as latency_times
from .encoders import poisson as poisson
from .encoders import population as population
from .encoders import population_responses as population_responses
