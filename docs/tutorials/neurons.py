# %% [markdown]
# # Neurons and surrogate gradients
#
# **What this shows.** A LIF neuron driven by a constant current fires at the rate its
# equation predicts; the module, the pure function and a hand-written loop give the same
# spikes; a sequence run in two chunks with the state passed back equals the sequence run
# at once; and the surrogate's gradient is what its formula says.

# %%
import math

import matplotlib.pyplot as plt
import torch

import spikeforge as sf
from spikeforge.functional import LIFParameters, LIFState, lif_sequence
from spikeforge.neurons import LIF

torch.manual_seed(0)

# %% [markdown]
# ## The LIF equation, by hand
#
# With `decay_input=True` (the default) the membrane charges as
# `H[t] = V[t-1] + (X[t] - V[t-1]) / τ`, fires when `H ≥ V_th` and resets to 0.
# Under a constant input `x > V_th` it fires every `k` steps, where `k` is the first step
# at which `x (1 - (1 - 1/τ)^k) ≥ V_th`.

# %%
T, tau, x_value = 40, 4.0, 1.5
x = torch.full((T, 1, 1), x_value)
spikes = LIF(tau=tau)(x)

v, manual = 0.0, []
for _ in range(T):
    h = v + (x_value - v) / tau
    s = 1.0 if h >= 1.0 else 0.0
    v = 0.0 if s else h
    manual.append(s)

k = next(k for k in range(1, 100) if x_value * (1 - (1 - 1 / tau) ** k) >= 1.0)
print("spikes:", spikes.flatten().int().tolist())
print(f"predicted period {k} steps, measured rate {spikes.mean():.3f} = 1/{1 / spikes.mean():.0f}")
assert spikes.flatten().tolist() == manual
assert math.isclose(spikes.mean().item(), (T // k) / T)

# %% [markdown]
# ## Module, pure function, and streaming with explicit state
#
# `LIF()(x)` is a thin shell over `spikeforge.functional.lif_sequence`. `run` returns the
# final state; handing it back continues the sequence exactly.

# %%
x = torch.rand(16, 8, 32) * 1.2  # [T, B, F]
lif = LIF(tau=2.0)
whole = lif(x)
pure, _ = lif_sequence(x, LIFState(torch.zeros(8, 32)), LIFParameters(inv_tau=1 / 2.0))
first, state = lif.run(x[:7])
second, _ = lif.run(x[7:], state)
assert torch.equal(whole, pure)
assert torch.equal(whole, torch.cat([first, second]))
print("chunked == whole:", torch.equal(whole, torch.cat([first, second])))
print("firing rate", whole.mean().item())

# %% [markdown]
# ## Surrogate gradients
#
# The forward pass is a step function; backward uses the surrogate's derivative. For
# `atan` with `α = 2`: `σ'(x) = α / (2 (1 + (π α x / 2)²))`. Every registered surrogate
# is plotted below.

# %%
u = torch.linspace(-2, 2, 401, requires_grad=True)
atan = sf.surrogates.get_surrogate("atan")
out = sf.surrogates.spike(u, atan)
out.sum().backward()
expected = 2.0 / (2 * (1 + (math.pi * 2.0 * u.detach() / 2) ** 2))
assert torch.allclose(u.grad, expected, atol=1e-6)
assert torch.equal(out, (u >= 0).float())  # fires at equality: Θ(0) = 1

fig, ax = plt.subplots(figsize=(6, 3))
for name in sf.surrogates.SURROGATES.names():
    g = sf.surrogates.get_surrogate(name)
    ax.plot(u.detach(), g.derivative(u.detach()), label=name)
ax.set_xlabel("H − V_th")
ax.set_ylabel("surrogate derivative")
ax.legend(fontsize=7)
print("surrogates:", ", ".join(sf.surrogates.SURROGATES.names()))

# %% [markdown]
# ## Other neurons
#
# Every registered neuron takes `[T, B, ...]` and has the same three call forms.

# %%
from spikeforge.neurons import NEURONS, create_neuron

x = torch.rand(8, 4, 16) * 2  # [T=8, B=4, F=16]
needs = {"T": 8, "features": 16}  # parallel neurons need T; the recurrent LIF its width
for name in NEURONS.names():
    try:
        neuron = create_neuron(name)
    except TypeError as error:
        neuron = create_neuron(name, **{k: v for k, v in needs.items() if f"'{k}'" in str(error)})
    y = neuron(x)
    assert y.shape == x.shape
    kind = type(neuron).__name__
    print(f"{name:12s} {kind:10s} out {tuple(y.shape)} mean {y.float().mean():.3f}")

# %% [markdown]
# ## Regularizers and surrogate settings in configs
#
# Firing-rate regularizers come from the config: `train.regularizers: [{name: l1_rate,
# weight: 1e-3, layers: [..]}]` (`spikeforge list regularizers`; `layers` defaults to every
# spiking layer) adds `weight × value` to the training loss and logs each value
# (`engine/regularize.py`; tested: a strong `l1_rate` lowers the firing rate, the logged
# value equals a hand computation, a regularized run resumes bit-exactly). A surrogate is a
# name or a mapping with its options: `model.surrogate: {name: atan, alpha: 4}` (a
# triangle's width as `alpha` = 1/width); every zoo factory takes neuron settings through one
# helper (`models/_common.py: neuron_settings`), and a surrogate given both there and in
# `model.neuron_kwargs.surrogate`, differently, is refused. A recurrent LIF
# (`model.neuron=rlif`) gets each layer's own width (`spiking_mlp` with `hidden_sizes: [64,
# 32]` trains).
