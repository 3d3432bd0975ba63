# %% [markdown]
# # Parallel neurons on a sequence task
#
# **What this shows.** Parallel spiking neurons (PSN and its relatives) compute every
# step's membrane at once, `H = W X` with a learnable `T × T` matrix `W`, instead of a
# step-by-step recursion — so a neuron at step `t` can weigh inputs from any earlier step.
# On a sequence task, the 8×8 digits read out **one row per step** (T = 8 steps of 8
# pixels, so the class is only known from the whole sequence), the same small network
# with PSN neurons beats it with LIF neurons after the same 6 epochs. The published
# speed-ups of parallel neurons are GPU results; on a 2-core CPU the fused PSN kernel trains
# at 1.0–1.3× the fused LIF kernel's speed at T = 4–8 and slower from T = 16 up
# (`spikeforge bench parallel`, `benchmarks/results/parallel_neurons_cpu_fused.md`).

# %%
import time

import matplotlib.pyplot as plt
import torch
from torch import nn

from spikeforge.data import load_dataset
from spikeforge.layers import fold
from spikeforge.losses import CEMembrane
from spikeforge.neurons import LI, LIF, PSN, create_neuron

torch.set_num_threads(2)


def as_sequence(split):
    """Digits as row sequences: x [T=8, N, 8], labels [N]."""
    data = load_dataset("digits", split)
    images = torch.stack([data[i][0] for i in range(len(data))])  # [N, 1, 8, 8]
    labels = torch.tensor([int(data[i][1]) for i in range(len(data))])
    return images[:, 0].permute(1, 0, 2).contiguous(), labels


x_train, y_train = as_sequence("train")
x_test, y_test = as_sequence("test")
T = x_train.shape[0]
print("train", tuple(x_train.shape), "test", tuple(x_test.shape))

# %% [markdown]
# ## PSN: the membrane as one matrix product over time
#
# With `init="lif"` a PSN's `W` starts as the LIF recursion unrolled (without reset):
# `W[t, s] = (1/τ)(1 − 1/τ)^(t−s)` for `s ≤ t`. Its first forward pass therefore equals a
# LIF neuron with `reset="none"` — checked here — and training can then reach further back.

# %%
psn = PSN(T=T, init="lif", tau=2.0)
z = torch.rand(T, 4, 8) * 2
assert torch.allclose(psn(z), LIF(tau=2.0, reset="none")(z))
print("PSN(init='lif') == LIF(reset='none') at initialisation")


# %%
def network(neuron: str) -> nn.Module:
    kwargs = {"T": T} if neuron == "psn" else {}
    return nn.Sequential(
        fold(nn.Linear(8, 64)),
        create_neuron(neuron, **kwargs),
        fold(nn.Linear(64, 10)),
        LI(tau=None),  # accumulates the output membrane [T, B, 10]
    )


def fit(neuron: str, epochs: int = 6, seed: int = 0) -> tuple[float, list[float]]:
    torch.manual_seed(seed)
    model = network(neuron)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    objective = CEMembrane()
    curve = []
    for _ in range(epochs):
        order = torch.randperm(x_train.shape[1])
        for batch in order.split(64):
            loss = objective(model(x_train[:, batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            scores = model(x_test).mean(0)  # the readout CEMembrane trains: mean over time
            curve.append((scores.argmax(1) == y_test).float().mean().item())
    return curve[-1], curve


results = {}
for neuron in ("lif", "psn"):
    start = time.perf_counter()
    results[neuron] = fit(neuron)
    curve = " ".join(f"{a:.3f}" for a in results[neuron][1])
    print(f"{neuron}: test accuracy by epoch {curve} ({time.perf_counter() - start:.1f} s)")

fig, ax = plt.subplots(figsize=(5, 3))
for neuron, (_, curve) in results.items():
    ax.plot(range(1, len(curve) + 1), curve, label=neuron)
ax.set_xlabel("epoch")
ax.set_ylabel("test accuracy")
ax.legend()
assert results["psn"][0] > results["lif"][0]
