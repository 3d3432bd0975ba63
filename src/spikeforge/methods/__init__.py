"""Training methods (``METHODS`` registry): BPTT now; conversion, distillation later."""

from .base import METHODS as METHODS
from .base import Method as Method
from .bptt import BPTT as BPTT
