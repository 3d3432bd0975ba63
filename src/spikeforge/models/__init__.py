"""Model zoo: registry (``create`` / ``MODELS.names()``) and the registered models."""

from . import ann as ann
from . import csnn as csnn
from . import eprop_rsnn as eprop_rsnn
from . import equilibrium as equilibrium
from . import joint as joint
from . import mlp as mlp
from . import ms_resnet as ms_resnet
from . import or_resnet as or_resnet
from . import resnet as resnet
from . import sew_resnet as sew_resnet
from . import spikformer as spikformer
from . import spikformer_v2 as spikformer_v2
from . import spikformer_v2_mae as spikformer_v2_mae
from . import stdp_wta as stdp_wta
from . import trevsnn as trevsnn
from . import vgg as vgg
from .registry import MODELS as MODELS
from .registry import create as create
