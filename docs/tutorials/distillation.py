# %% [markdown]
# # Distillation: KD, feature KD, LaSNN, Joint A-SNN
#
# **What this shows.** The LaSNN pipeline on digits (what `spikeforge demo` runs, with its
# quick settings): a teacher ANN, an intermediate ANN converted to an SNN, then students
# at T = 4 — from scratch, fine-tuned from the conversion, with response KD (the teacher's
# softened outputs), feature KD (intermediate layers matched), LaSNN (layer-wise attention
# maps, activation- or gradient-based) and Joint A-SNN (an ANN and an SNN sharing weights,
# trained together). Every student reaches ≥ 85 % test accuracy, and every distilled one
# is within 2 points of the student from scratch or better. One seed and a few epochs
# decide little: the 3-seed table is on the results page
# [LaSNN on digits](../results/lasnn_digits.md) (there, LaSNN and response KD tie).

# %%
import torch

from spikeforge.demo import format_result, run_demo
from spikeforge.pipelines.lasnn import load_config as load_pipeline_config

torch.set_num_threads(1)  # these 8×8 convs are too small to use two threads well

# %% [markdown]
# ## The distillation settings are config sections
#
# Each student is an engine config: `train.method` names the method and the `distill`
# section names the teacher's checkpoint, the `(teacher layer, student layer)` pairs whose
# features are matched, and the method's options. In a plain engine config the same
# section reads, e.g. `distill: {teacher: runs/digits-ann/best.pt, options: {tau: 4.0,
# alpha: 0.5}}` with `train.method=kd`.

# %%
pipeline = load_pipeline_config("digits", None, [], True, "runs/tutorial-lasnn")
for name, variant in pipeline.variants.items():
    section = variant.config.get("distill", {})
    method = variant.config.get("train", {}).get("method", "hybrid")
    print(f"{name:18s} method={method:11s} pairs={section.get('pairs', [])}")

# %% [markdown]
# ## Run the pipeline

# %%
result = run_demo(run_dir="runs/tutorial-lasnn", log=None)
print(format_result(result))

# %%
rows = {r["variant"]: r["accuracy"] for r in result["rows"] if "variant" in r}
print({k: round(v, 4) for k, v in rows.items()})
assert min(rows.values()) >= 0.85
for name in ("kd", "feature_kd", "lasnn_activation", "lasnn_gradient"):
    assert rows[name] >= rows["scratch"] - 0.02, name

# %% [markdown]
# Each student's `metrics.jsonl` holds, per epoch, the mean of every term of its loss
# beside `train_loss`: for LaSNN `train_ce`, `train_kd` (the τ²-scaled KL), `train_at`
# (`Σ λ_l L_AT,l`) and each level's `train_at_0`, `train_at_1`, ... A term that dominates
# the loss, or never falls, shows there. They add up to the loss,
# `(1 − α) CE + α KD + (β/2) AT`:

# %%
import json
from pathlib import Path

import yaml

student = Path("runs/tutorial-lasnn/students/lasnn_activation/seed0")
options = yaml.safe_load((student / "config.yaml").read_text())["distill"]["options"]
alpha, beta = options.get("alpha", 0.5), options.get("beta", 1.0)
shown = ("train_loss", "train_ce", "train_kd", "train_at")
for line in (student / "metrics.jsonl").read_text().splitlines():
    e = json.loads(line)
    print(e["epoch"], {k: round(e[k], 3) for k in shown})
    total = (1 - alpha) * e["train_ce"] + alpha * e["train_kd"] + beta / 2 * e["train_at"]
    assert abs(total - e["train_loss"]) < 1e-4 * e["train_loss"]

# %% [markdown]
# ## Distillation from a config, without the pipeline
#
# Distillation from any trained ANN into any SNN is a config away: a `distill` section
# names the teacher's checkpoint and, for `feature_kd`/`lasnn`, the layer pairs. For
# example masked PSN neurons in a SEW-ResNet-18 with feature distillation, in 18 lines
# (`configs/digits_sew_masked_psn_fkd.yaml`):
#
# ```
# spikeforge train --config configs/digits_resnet_ann.yaml          # the teacher, ~10 s
# spikeforge train --config configs/digits_sew_masked_psn_fkd.yaml  # the student, ~15 s
# ```
#
# The masking is progressive, as in the paper: the trainer ramps every masked PSN's λ from
# 0 (a plain, non-causal PSN) to 1 (the causal k=2 band) over the first eighth of
# training (`mask_schedule`, default `[0, 0.125]`: λ = 1 after 29 of the 230 steps
# here), then keeps it at 1, and logs the λ reached per epoch under `schedules` in
# `metrics.jsonl`. Re-run on a 2-core CPU (2026-12-05: the two commands above, then the
# student with `train.seed=S`, and with `train.method=bptt train.seed=S`; final-epoch
# test accuracy): teacher 99.17 %; student (10 epochs, T=4) over seeds 0/1/2 96.94 /
# 95.83 / 96.67 % (mean 96.48 %) vs the same SNN with `train.method=bptt` (no teacher;
# the section is then ignored with a warning) 95.83 / 96.39 / 96.67 % (mean 96.30 %) on
# the 360-image digits test split: a mean gap of 0.2 points (two thirds of a test image)
# against per-seed differences of up to four images, not a claim about the method. (The
# 96.95 % / 95.93 % the README gave before were networks whose λ never left 0: the
# masking did not run. On the same machine such unmasked runs, now
# `model.neuron_kwargs.mask_progress=0`, give 96.11 / 97.22 / 96.39 % with feature KD
# and 97.22 / 96.67 / 96.11 % with BPTT.) Under
# `torchrun` the feature-KD adapters, which live outside the DDP-wrapped model, get their
# gradients averaged over processes as well (`tests/test_engine_distributed.py`).
