"""Shared by the SpikingBERT pipeline tests: the skip when the shared SST-2 files are
absent, and the overrides that make a run tiny (48 phrases in batches of 16: three
training batches per epoch; 24 dev sentences)."""

import pytest

from spikeforge.data.paths import find_shared_data

SHARED = find_shared_data()
needs_sst2 = pytest.mark.skipif(
    SHARED is None or not (SHARED / "sst2").is_dir(), reason="shared SST-2 files absent"
)

TINY = [
    "data.train_samples=48",
    "data.eval_samples=24",
    "data.batch_size=16",
    "teacher_model={hidden: 16, layers: 2, heads: 2, intermediate: 16}",
    "student_model={hidden: 16, layers: 1, heads: 2, intermediate: 16, t_conv: 4}",
    "teacher.epochs=1",
    "scratch.epochs=1",
    "internal_kd.epochs=1",
    "prediction_kd.epochs=1",
    "prediction_only.epochs=1",
    "sweep=[2, 4]",
]
