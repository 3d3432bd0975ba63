# %% [markdown]
# # Encoders, decoders and objectives
#
# **What this shows.** How analog inputs become spikes `[T, B, ...]` (direct, Poisson,
# latency, population coding), how outputs `[T, B, C]` become class scores `[B, C]`
# (decoders), and which objective trains which readout — each checked against its formula:
# a Poisson train's rate approaches the intensity, a latency code puts bright pixels first,
# and a network trained with a rate code and `ce_rate` on spike counts reaches ≥ 85 % on
# digits in 3 epochs.

# %%
import matplotlib.pyplot as plt
import torch

from spikeforge.data import load_dataset
from spikeforge.encoding import ENCODERS, first_spike_decode, latency, poisson, rate_decode
from spikeforge.engine.config import load_config
from spikeforge.engine.run import train
from spikeforge.losses import OBJECTIVES, CERate

torch.manual_seed(0)
print("encoders:", ", ".join(ENCODERS.names()))
print("objectives:", ", ".join(OBJECTIVES.names()))

# %% [markdown]
# ## Encoders: `[B, ...]` → `[T, B, ...]`

# %%
image, label = load_dataset("digits", "test")[0]  # [1, 8, 8], intensities in [0, 1]
x = image.unsqueeze(0)  # [B=1, 1, 8, 8]
T = 64
rate_code = poisson(x, T, generator=torch.Generator().manual_seed(0))
time_code = latency(x, 16)
print("poisson", tuple(rate_code.shape), "latency", tuple(time_code.shape))

# A Bernoulli train's mean over T is the intensity, within a few standard errors.
err = (rate_code.mean(0) - x).abs().max().item()
assert err < 4 * (0.25 / T) ** 0.5, err
# Linear latency: t = round((1 - x)(T - 1)); the brightest pixel fires first.
first = time_code.argmax(0)
fired = time_code.sum(0) > 0
expected = torch.round((1 - x) * 15).long()
assert torch.equal(first[fired], expected[fired])
assert time_code.sum(0).max() == 1  # each input fires at most once

fig, axes = plt.subplots(1, 3, figsize=(8, 2.6))
axes[0].imshow(image[0], cmap="gray")
axes[0].set_title(f"digit {label}")
axes[1].imshow(rate_code.mean(0)[0, 0], cmap="gray")
axes[1].set_title(f"Poisson rate, T={T}")
axes[2].imshow(torch.where(fired, first, 16)[0, 0], cmap="viridis_r")
axes[2].set_title("latency: first-spike step")
for ax in axes:
    ax.axis("off")

# %% [markdown]
# ## Decoders: `[T, B, C]` → `[B, C]`
#
# A rate decoder counts spikes (most spikes wins); a first-spike decoder returns each
# class's first spike step (earliest wins, silent = T).

# %%
spikes = torch.zeros(5, 1, 3)
spikes[[1, 2, 3], 0, 0] = 1  # class 0: three spikes from t = 1
spikes[0, 0, 2] = 1  # class 2: one spike, at t = 0
print("counts", rate_decode(spikes).tolist(), "first spikes", first_spike_decode(spikes).tolist())
assert rate_decode(spikes).tolist() == [[3.0, 0.0, 1.0]]
assert first_spike_decode(spikes).tolist() == [[1.0, 5.0, 0.0]]

# %% [markdown]
# ## Objectives
#
# `ce_rate` is the cross-entropy with the spike counts as logits — checked here against
# `torch.nn.functional.cross_entropy` by hand.

# %%
labels = torch.tensor([2])
by_hand = torch.nn.functional.cross_entropy(spikes.sum(0), labels)
assert torch.isclose(CERate()(spikes, labels), by_hand)
print(f"ce_rate {CERate()(spikes, labels):.4f} == {by_hand:.4f}")

# %% [markdown]
# ## Training with a rate code and spike-count objective
#
# The model's readout must match the objective: `ce_rate` needs a spiking readout
# (`model.kwargs.readout=spiking`); the engine refuses a mismatch with a message naming
# the fix. Poisson input and spike-count output, 3 epochs:

# %%
config = load_config(
    "digits_csnn",
    [
        "train.epochs=3",
        "train.progress=false",
        "data.encoder=poisson",
        "data.timesteps=8",
        "train.objective=ce_rate",
        "model.kwargs={readout: spiking}",
    ],
)
trainer, final = train(config)
print(f"Poisson in, spike counts out: test accuracy {final['test_acc']:.4f}")
assert final["test_acc"] >= 0.85

# %% [markdown]
# ## Readouts, decoders and population coding in configs
#
# A model declares what its outputs `[T, B, N]` are (`readout_kind`, `models/output.py`):
# `spikes`, an analog `membrane` (every SNN of the zoo as built: a linear/LI readout) or
# `analog` scores (the ANN twins). Each objective and decoder says which kinds it reads,
# and a pair that does not fit is refused when the run is built, naming both and the fix:
# `train.objective=ce_temporal` on `csnn_tiny` stops with `objective ce_temporal needs
# spiking outputs, but csnn_tiny's readout is analog membrane (...); use
# train.objective=ce_membrane/ce_per_step/mse_membrane, or model.kwargs.readout=spiking`
# (before, it trained on nonsense: on random analog values `ce_temporal` is 0.0). Spike
# objectives: `ce_rate`, `mse_count`, `ce_temporal`, `mse_temporal`; membrane objectives:
# `ce_membrane`, `ce_per_step`, `mse_membrane` (snnTorch's membrane MSE: the correct
# class's membrane toward `on_target`=1, the others toward `off_target`=0, every step).
# `tests/test_engine_method.py` trains or refuses every objective × readout pair.
#
# Two options every registered model takes, applied in one place (`models.create`):
# `model.kwargs.readout=spiking` passes the outputs through one more neuron of the model's
# kind, and `model.kwargs.population=P` gives P outputs per class (class c owns outputs
# `c·P … c·P+P−1`; the objective groups them by itself). `model.decoder` (`spikeforge list
# decoders`: `rate`, `first_spike`, `membrane`, `population`, with `model.decoder_options`)
# is what scores accuracy in training, `spikeforge eval` and `spikeforge energy` (which
# prints the accuracy of the samples it measured); `null` (the default) is the objective's
# own readout — the membrane's time mean for the membrane objectives, as before, spike
# counts for the rate codes, first-spike times for the temporal ones. The `population`
# encoder codes each input with P Gaussian receptive fields over `[low, high]` (Bohte et
# al. 2002; latency spikes by default, or `mode: rate|direct`), `[B, C, H, W]` →
# `[T, B, C·P, H, W]`, and the model is sized from the encoded shape. Population coding at
# both ends, on one run:
#
# ```
# spikeforge train --config digits_csnn data.encoder=population \
#     "data.encoder_options={population: 4}" model.kwargs.population=4 \
#     model.kwargs.readout=spiking train.objective=ce_rate model.decoder=population
# ```
#
# 96.4 % on digits after the 15 epochs (129 s on the shared 2-core machine, one seed);
# `spikeforge eval --checkpoint <run>/last.pt model.decoder=first_spike` decodes the same
# checkpoint by first spikes instead: 90.6 %.
