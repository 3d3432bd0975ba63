"""Model zoo: registry (``create`` / ``MODELS.names()``) and the registered models."""

from . import csnn as csnn
from .registry import MODELS as MODELS
from .registry import create as create
