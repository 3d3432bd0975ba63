"""Multi-stage pipelines built on the engine: ``spikeforge run <name>``.

A pipeline is a sequence of stages, each an engine config, run through the engine's
trainer with stage-level resume (:mod:`.runner`) and summarised in one table
(:mod:`.table`). ``PIPELINES`` maps a name to a :class:`Pipeline`: its ``run``
(keywords ``dataset``, ``config``, ``run_dir``, ``timesteps``, ``seeds``, ``quick``,
``overrides``, ``stop_after``, ``log``; returns the result dict) and its table.

- ``lasnn``: teacher ANN -> intermediate ANN -> conversion -> layer-wise distillation
  (:func:`~spikeforge.pipelines.lasnn.run_lasnn`).
- ``spikingbert``: BERT-style teacher -> spiking students (no teacher, prediction KD,
  internal + prediction KD) -> T_conv sweep on SST-2
  (:func:`~spikeforge.pipelines.spikingbert.run_spikingbert`).
- ``mae``: Spikformer V2 masked-image pretraining -> fine-tuning vs scratch vs v1
  (:func:`~spikeforge.pipelines.mae.run_mae`).
- ``compare``: the variants of a config trained side by side over seeds, one table
  (:func:`~spikeforge.pipelines.compare.run_compare`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._registry import Registry
from .compare import format_table as compare_table
from .compare import load_config as compare_config
from .compare import run_compare as run_compare
from .lasnn import format_table as format_table
from .lasnn import load_config as load_config
from .lasnn import run_lasnn as run_lasnn
from .mae import format_table as mae_table
from .mae import load_config as mae_config
from .mae import run_mae as run_mae
from .spikingbert import format_table as spikingbert_table
from .spikingbert import load_config as spikingbert_config
from .spikingbert import run_spikingbert as run_spikingbert


@dataclass(frozen=True)
class Pipeline:
    """A registered pipeline: how to run it, how to print its result, what it is."""

    run: Callable[..., dict[str, Any]]
    load_config: Callable[..., Any]  # (dataset, path, overrides, quick, run_dir) -> config
    format_table: Callable[[dict[str, Any]], str]
    summary: str
    stages: tuple[str, ...]


PIPELINES: Registry[Pipeline] = Registry("pipeline")
PIPELINES.register("lasnn")(
    Pipeline(
        run_lasnn,
        load_config,
        format_table,
        "teacher ANN, conversion, layer-wise ANN-to-SNN distillation",
        ("teacher", "intermediate", "conversion", "students"),
    )
)
PIPELINES.register("spikingbert")(
    Pipeline(
        run_spikingbert,
        spikingbert_config,
        spikingbert_table,
        "BERT-style teacher, SpikingBERT students distilled on SST-2, T_conv sweep",
        ("teacher", "students", "sweep"),
    )
)
PIPELINES.register("mae")(
    Pipeline(
        run_mae,
        mae_config,
        mae_table,
        "Spikformer V2 masked-image pretraining, fine-tuning vs scratch vs Spikformer v1",
        ("pretrain", "finetune"),
    )
)
PIPELINES.register("compare")(
    Pipeline(
        run_compare,
        compare_config,
        compare_table,
        "a config's variants trained side by side over seeds (accuracy, firing rate, energy)",
        ("variants",),
    )
)
