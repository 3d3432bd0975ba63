"""Datasets, file-format parsers, event/audio encoders and time-major batching.

Every registered dataset (``DATASETS``) yields ``(x, label)``; :func:`make_loader`
batches static samples to ``[B, ...]`` and temporal ones to ``[T, B, ...]`` (time
first), with labels ``[B]``. Data is found via :mod:`spikeforge.data.paths`. A bad data
file raises :class:`DataFileError` (a ``ValueError``) naming it; :func:`check_dataset`
reads every sample once to find one up front.
"""

from . import datasets as datasets
from . import formats as formats
from .audio import audio_to_spikes as audio_to_spikes
from .audio import delta_encode as delta_encode
from .audio import log_mel_spectrogram as log_mel_spectrogram
from .audio import mel_filterbank as mel_filterbank
from .audio import power_spectrogram as power_spectrogram
from .audio import threshold_encode as threshold_encode
from .check import check_dataset as check_dataset
from .datasets.base import ArrayDataset as ArrayDataset
from .datasets.base import LazyDataset as LazyDataset
from .errors import DataFileError as DataFileError
from .events import EVENT_DTYPE as EVENT_DTYPE
from .events import make_events as make_events
from .frames import events_to_frames as events_to_frames
from .frames import events_to_frames_window as events_to_frames_window
from .loader import make_loader as make_loader
from .loader import sample_indices as sample_indices
from .loader import time_major_collate as time_major_collate
from .paths import DatasetNotFoundError as DatasetNotFoundError
from .paths import find_shared_data as find_shared_data
from .paths import locate as locate
from .paths import search_roots as search_roots
from .registry import DATASETS as DATASETS
from .registry import load_dataset as load_dataset
from .sequence import image_to_sequence as image_to_sequence
