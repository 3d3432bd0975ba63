"""The pipeline registry (``pipelines/__init__.py``): what ``spikeforge run NAME`` finds."""

from __future__ import annotations

import dataclasses

import pytest

from spikeforge.pipelines import PIPELINES, Pipeline, format_table, load_config, run_lasnn
from spikeforge.pipelines.lasnn import STAGES
from spikeforge.pipelines.lasnn_table import LaSNNTable


def test_lasnn_is_registered_with_its_run_config_table_and_stages():
    assert "lasnn" in PIPELINES.names()  # beside the others (mae, ...)
    pipeline = PIPELINES.get("lasnn")
    assert isinstance(pipeline, Pipeline)
    assert pipeline.run is run_lasnn and pipeline.load_config is load_config
    assert pipeline.format_table is format_table is LaSNNTable.format
    assert pipeline.stages == ("teacher", "intermediate", "conversion", "students")
    assert tuple(STAGES) == pipeline.stages
    assert "distillation" in pipeline.summary


def test_the_registered_config_loader_reads_the_shipped_config():
    config = PIPELINES.get("lasnn").load_config("digits", overrides=["timesteps=2"])
    assert config.pipeline == "lasnn" and config.timesteps == 2 and config.variants


def test_entries_are_frozen_and_unknown_names_are_named():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PIPELINES.get("lasnn").summary = "x"  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown pipeline 'nope'; registered: compare, lasnn"):
        PIPELINES.get("nope")
    with pytest.raises(ValueError, match="pipeline 'lasnn' is already registered"):
        PIPELINES.register("lasnn")(PIPELINES.get("lasnn"))
