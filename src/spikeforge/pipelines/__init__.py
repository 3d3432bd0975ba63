"""Multi-stage pipelines built on the engine: ``spikeforge run <name>``.

- ``lasnn``: teacher ANN -> intermediate ANN -> conversion -> layer-wise distillation
  (:func:`~spikeforge.pipelines.lasnn.run_lasnn`).
"""

from .lasnn import format_table as format_table
from .lasnn import load_pipeline_config as load_pipeline_config
from .lasnn import run_lasnn as run_lasnn

PIPELINES = {"lasnn": run_lasnn}
