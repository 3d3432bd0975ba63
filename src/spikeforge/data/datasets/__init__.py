"""Registered datasets (importing this package registers them in ``DATASETS``)."""

from . import cifar as cifar
from . import cifar10_dvs as cifar10_dvs
from . import digits as digits
from . import dvs_gesture as dvs_gesture
from . import fsdd as fsdd
from . import mnist as mnist
from . import nmnist as nmnist
from . import shd as shd
from . import sst2 as sst2
from .base import ArrayDataset as ArrayDataset
from .base import LazyDataset as LazyDataset
from .base import event_frames as event_frames
