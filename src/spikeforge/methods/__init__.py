"""Training methods (``METHODS`` registry): BPTT, the online SLTT (``sltt``) and OTTT
(``ottt``), ANN twins (``ann``), hybrid fine-tuning of converted SNNs (``hybrid``);
conversion itself lives in :mod:`.conversion`."""

from .ann import ANNMethod as ANNMethod
from .base import METHODS as METHODS
from .base import Method as Method
from .bptt import BPTT as BPTT
from .decolle import DECOLLE as DECOLLE
from .distill import FeatureKD as FeatureKD
from .distill import JointASNN as JointASNN
from .distill import LaSNN as LaSNN
from .distill import ResponseKD as ResponseKD
from .eprop import Eprop as Eprop
from .hybrid import HybridMethod as HybridMethod
from .mae import MaskedImagePretraining as MaskedImagePretraining
from .online import SLTT as SLTT
from .ottt import OTTT as OTTT
from .stdp import stdp_update as stdp_update
from .stdp_training import STDPTraining as STDPTraining
