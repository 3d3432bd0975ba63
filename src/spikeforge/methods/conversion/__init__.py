"""ANN -> SNN conversion (METHODS §6): ``convert(ann, calibration_data, "percentile")``.

See :mod:`.pipeline` for the stages and :mod:`.neurons` for the threshold convention
(``V_th = λ_l``, spikes carry ``λ_l``).
"""

from .calibrate import CALIBRATIONS as CALIBRATIONS
from .calibrate import MaxRecipe as MaxRecipe
from .calibrate import PercentileRecipe as PercentileRecipe
from .calibrate import Recipe as Recipe
from .calibrate import make_recipe as make_recipe
from .fold import fold_batch_norm as fold_batch_norm
from .model import ConvertedSNN as ConvertedSNN
from .neurons import ConvertedIF as ConvertedIF
from .neurons import SpikingMaxPool as SpikingMaxPool
from .pipeline import calibrate as calibrate
from .pipeline import convert as convert
from .validate import UnsupportedOperationError as UnsupportedOperationError
