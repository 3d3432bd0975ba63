# %% [markdown]
# # Online and memory-efficient training: SLTT, OTTT, e-prop, DECOLLE, STDP
#
# **What this shows.** BPTT keeps every step's activations for the backward pass, so its
# memory grows with T. The online methods here run the network one step at a time and
# learn without that history:
#
# - `sltt` — each step's loss is backpropagated through that step only (the temporal
#   gradient path is dropped); `method_options={k: 2}` backpropagates 2 random steps;
# - `ottt` — the same stepping, with presynaptic traces in the weight gradients;
# - `decolle` — every spiking layer learns from its own fixed random readout;
# - `eprop` — a recurrent LIF layer whose gradients are computed forward in time from
#   eligibility traces (`model.name=eprop_rsnn`);
# - `stdp` — unsupervised spike-timing-dependent plasticity in a winner-take-all layer,
#   with a readout fitted on its spike counts.
#
# Each is one config key away (`train.method=...`). On digits, 2 epochs each: every
# method learns the task (≥ 75 %, ≥ 80 % for STDP's 6 epochs). BPTT's peak memory per
# step and the online methods' are measured on the results page
# [online training on digits](../results/online_training_digits-T16.md).
# On spoken digits the online methods fail
# ([online training on FSDD](../results/online_training_fsdd.md)): dropping the temporal
# gradient costs what that task needs.

# %%
import torch

from spikeforge.engine.config import load_config
from spikeforge.engine.run import train

torch.set_num_threads(1)
common = ["train.epochs=2", "train.progress=false", "train.tensorboard=false"]
results = {}

# %% [markdown]
# ## BPTT, SLTT, SLTT-2, OTTT and DECOLLE on the conv SNN
#
# The online methods train with the per-step loss `ce_per_step`, the mean over steps of
# each step's cross-entropy.

# %%
runs = {
    "bptt": [],
    "sltt": ["train.method=sltt", "train.objective=ce_per_step"],
    "sltt-2": ["train.method=sltt", "train.objective=ce_per_step", "train.method_options={k: 2}"],
    "ottt": ["train.method=ottt", "train.objective=ce_per_step"],
    "decolle": ["train.method=decolle", "train.objective=ce_per_step"],
}
for name, overrides in runs.items():
    _, final = train(load_config("digits_csnn", [*common, *overrides]))
    results[name] = final["test_acc"]
    print(f"{name:8s} test accuracy {final['test_acc']:.4f}")

# %% [markdown]
# ## e-prop on a recurrent SNN
#
# No backward pass through time: each weight's eligibility trace is updated forward and
# multiplied by a per-step learning signal.

# %%
eprop = [
    "model.name=eprop_rsnn",
    "model.kwargs={hidden: 128}",
    "train.method=eprop",
    "train.objective=ce_per_step",
    "data.timesteps=8",
]
_, final = train(load_config("digits_csnn", [*common, *eprop]))
results["eprop"] = final["test_acc"]
print(f"eprop    test accuracy {final['test_acc']:.4f}")

# %% [markdown]
# ## STDP, unsupervised
#
# 200 winner-take-all LIF neurons with adaptive thresholds learn features from Poisson
# spikes by the pair rule (`spikeforge.methods.stdp_update`); the last epoch fits a ridge
# readout on their spike counts. No label reaches the features.

# %%
_, final = train(load_config("digits_stdp", ["train.progress=false", "train.tensorboard=false"]))
results["stdp"] = final["test_acc"]
print(f"stdp     test accuracy {final['test_acc']:.4f}")

# %%
for name, accuracy in results.items():
    assert accuracy >= (0.80 if name == "stdp" else 0.75), (name, accuracy)

# %% [markdown]
# ## Measured: accuracy, memory and the temporal gradient
#
# Training whose memory does not grow with T: `train.method=sltt` (SLTT: the model runs one
# step at a time, the temporal gradient path is dropped and each step's loss — the mean
# over steps of a per-step objective — is backpropagated at once; `train.method_options={k:
# 2}` gives SLTT-K, which backpropagates k random steps per batch) and `train.method=ottt`
# (OTTT: the same, with presynaptic traces `â[t] = λ â[t-1] + s[t]` in the weight gradients
# of every Linear/Conv layer, `λ` read off the LIF neurons), and `train.method=decolle`
# (DECOLLE-style local learning on top of OTTT's stepping: every spiking layer learns from
# its own fixed random readout, no gradient crosses layers). Any model whose neurons carry
# state step to step works (PSN/PSU/ParaLIF need the whole sequence and are refused by
# name). Peak memory of a training step, `SpikingMLP` 256→1024→1024→10, batch 128
# (`tests/test_methods_online.py`, a fresh process with glibc's mmap threshold fixed):
# SLTT 7.5 / 7.7 MiB at T=4 / 32, OTTT 8.4 / 8.5 MiB, BPTT 14.7 / 91.8 MiB.
# Side by side, same config and seeds 0–2 (`spikeforge bench online_training --task
# digits-T16` / `--task fsdd --epochs 10`, `benchmarks/results/online_training_*.md`): on
# digits at T=16 (`csnn_tiny`) BPTT 98.9 %, SLTT 98.5 %, SLTT-2 98.3 %, OTTT 98.6 %,
# DECOLLE 96.5 %, one training step's peak memory 67 MiB for BPTT vs 11–14 MiB for the
# online methods (a second run; the first measured 63.5 vs 9–12.5 MiB); on
# spoken digits (FSDD, T=100 steps of audio spikes, `spiking_mlp`) the online methods
# fail: BPTT 83.9 % (87.1 % with the online methods' own per-step loss, `train.objective=
# ce_per_step`) against SLTT 38.9 %, SLTT-2 30.2 %, OTTT 26.7 %, DECOLLE 28.0 % — dropping
# the temporal gradient costs what this task needs (the papers evaluate static and DVS
# images). They are also slower on a CPU: one model call per step (FSDD: 48 s per run
# for SLTT, 51 s for OTTT, 10–11 s for BPTT).
# `spikeforge.bench.temporal_gradients` measures why, as the T-RevSNN paper does: the
# cosine between BPTT's gradient and the gradient with every temporal path dropped
# (`spikeforge bench temporal_gradients`, `benchmarks/results/temporal_gradients.md`).
# After BPTT training it is 0.89–0.90 overall on digits (lowest tensor 0.76–0.79) and 0.83
# on FSDD, where the input layer's weights keep only 0.56 of their direction.
#
# e-prop (`train.method=eprop` with `model.name=eprop_rsnn`, `models/eprop_rsnn.py`): a
# recurrent LIF layer whose gradients are computed forward in time from eligibility traces
# and a learning signal (symmetric or random feedback), no backward pass. Tested: without
# recurrent weights and with symmetric feedback it equals BPTT's gradient to 1e-10 (as the
# paper says it should), with recurrence only the readout's gradient stays exact
# (`tests/test_models_eprop_rsnn.py`). Digits (`spikeforge train --config
# configs/digits_csnn.yaml model.name=eprop_rsnn "model.kwargs={hidden: 128}"
# train.method=eprop train.objective=ce_per_step data.timesteps=8 train.seed=S`): 96.9 /
# 97.2 / 96.9 % vs 97.8 / 97.2 / 98.1 % with `train.method=bptt` (seeds 0/1/2; 17 vs 6 s
# per run: the traces cost `B × hidden × inputs` per step).
#
# The STDP method in detail, and its measurement:
#
# STDP is a training method: `spikeforge train --config digits_stdp` (`train.method=stdp`,
# model `stdp_wta`): Poisson input, one layer of LIF neurons with a hard winner-take-all and
# adaptive thresholds (Diehl & Cook 2015, simplified), the tutorial's pair STDP
# (`methods.stdp_update`) once per batch with non-negative, row-normalised weights, then a
# ridge-regression readout on spike counts fitted in a last epoch without learning
# (`methods/stdp_training.py`). Against the same network and readout on untrained weights,
# 3 seeds (`spikeforge bench stdp --dataset digits mnist-small --seeds 3`,
# `benchmarks/results/stdp_*.md`, shared 2-core machine): digits 94.07 ± 0.58 % vs
# 54.81 ± 1.53 % (random) and 70.28 ± 3.74 % (thresholds adapted, weights random);
# mnist-small 80.54 ± 1.78 % vs 41.13 ± 0.67 % and 47.59 ± 1.47 %.
#
# T-RevSNN, which saves memory by recomputing instead of dropping the temporal gradient,
# has [its own tutorial](trevsnn.md) and [guide page](../guides/trevsnn.md).
