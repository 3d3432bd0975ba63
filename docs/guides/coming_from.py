# %% [markdown]
# # Coming from snnTorch, SpikingJelly or Norse
#
# Their idioms beside ours. Each row has a snippet below that runs when these pages are
# built; where a row says *identical*, the snippet checks it against the other library's
# update **written out by hand** from its published equations (none of the three is
# needed). The same rows are also tested in `tests/test_neurons_base.py` (the `idiom`
# tests).
#
# | snnTorch (`snn`) / SpikingJelly (`sj`) / Norse | spikeforge | |
# |---|---|---|
# | `snn.Leaky(beta=β)`: `mem = β·mem + x` | `LIF(tau=1/(1-β), decay_input=False)` (β = 0.9 ↔ τ = 10) | [1](#1-snnleaky-lifdecay_inputfalse) |
# | `sj neuron.LIFNode(tau=2.)`, `IFNode`, `ParametricLIFNode` | `LIF(tau=2.0)`, `IF()`, `PLIF(tau=2.0)` | [2](#2-spikingjellys-lifnode-ifnode) |
# | Norse `LIFBoxCell(p=LIFBoxParameters(tau_mem_inv=…))`, `dt` | `LIF(tau=1/(dt·tau_mem_inv))` | [3](#3-norses-lifboxcell) |
# | Norse `LIFCell` (current-based synapse), snnTorch `Synaptic` | `CuBa(alpha=…)` | [4](#4-current-based-synapses) |
# | `threshold=`, `v_threshold=`, `learn_beta=True`, `learn_threshold=True`, `spike_grad=`, `surrogate_function=` | `v_th=`, `learn_decay=True`, `learn_threshold=True`, `surrogate=` | [5](#5-renamed-options-and-surrogates) |
# | `snn.surrogate.atan(alpha=2)`, `sj surrogate.ATan()`, `fast_sigmoid`, `sigmoid`, `triangle` | `surrogate="atan"`, `{"name": "atan", "alpha": 4}`, `"fast_sigmoid"`, `"sigmoid"`, `"triangle"` | [5](#5-renamed-options-and-surrogates) |
# | `mem = lif.init_leaky()`; `spk, mem = lif(x_t, mem)` in a loop | `spk, state = lif.step(x_t, state)`, or one call `lif(x)` on `[T, B, ...]` | [6](#6-per-step-calls-and-state) |
# | `init_hidden=True` (state inside the module) | no hidden state: `out, state = lif.run(x, state)` | [6](#6-per-step-calls-and-state) |
# | `snn.utils.reset(net)`, `sj functional.reset_net(net)` | not needed: every `neuron(x)` starts from rest (`reset()` is a no-op) | [7](#7-reset_net-is-not-needed) |
# | `sj step_mode='m'`, `layer.SeqToANNContainer(conv)` | always multi-step; `fold(nn.Conv2d(...))` | [8](#8-multi-step-layers) |
# | `sj step_mode='s'` | `neuron.step(x_t, state)`; a 2-D `[B, F]` input to `neuron(x)` is refused | [8](#8-multi-step-layers) |
# | `snn.functional.ce_count_loss()`, `ce_max_membrane_loss()`, `ce_temporal_loss()`, `mse_count_loss()`, `mse_membrane_loss()` | objectives `ce_rate`, `ce_membrane` (`reduction="max"`), `ce_temporal`, `mse_count`, `mse_membrane` | [9](#9-losses-and-objectives) |
# | `sj` mean-firing-rate MSE, TET loss | `mse_count`, `ce_per_step` | [9](#9-losses-and-objectives) |
#
# Firing convention: spikeforge and SpikingJelly fire when the membrane **reaches** the
# threshold (`≥`); snnTorch and Norse when it **exceeds** it (`>`). They differ only at
# exact equality, which random inputs never hit.

# %%
import math

import torch
from torch import nn

from spikeforge.layers import fold
from spikeforge.losses import CEMembrane, CEPerStep, CERate, MSECount
from spikeforge.neurons import IF, LIF, PLIF, CuBa
from spikeforge.surrogates import ATan, get_surrogate

torch.manual_seed(0)
x = torch.rand(50, 4, 16, dtype=torch.float64)  # [T, B, F]

# %% [markdown]
# ## 1. `snn.Leaky` ↔ `LIF(decay_input=False)`
#
# snnTorch's leaky neuron decays the membrane and adds the input undecayed,
# `mem = β·mem + x`; ours with `decay_input=False` is `H = V − V/τ + X`, so `β = 1 − 1/τ`.
# With `reset_mechanism="zero"` (and `"none"`) the spikes are identical. snnTorch's default
# `"subtract"` is close, not identical: it takes the threshold off one step later and
# undecayed, so it removes more charge per spike.


# %%
def snntorch_leaky_zero(x, beta, threshold=1.0):
    """snn.Leaky(beta, reset_mechanism="zero"), written out: reset from last step's mem."""
    mem, out = torch.zeros_like(x[0]), []
    for x_t in x:
        reset = (mem > threshold).to(x.dtype)
        mem = beta * (1 - reset) * mem + x_t
        out.append((mem > threshold).to(x.dtype))
    return torch.stack(out)


beta = 0.9
ours = LIF(tau=1 / (1 - beta), decay_input=False, reset="zero").double()(x * 0.3)
assert torch.equal(ours, snntorch_leaky_zero(x * 0.3, beta))
print(f"β = {beta} ↔ τ = {1 / (1 - beta):g}: identical spikes, rate {ours.mean():.3f}")

# %% [markdown]
# ## 2. SpikingJelly's `LIFNode`, `IFNode`
#
# SpikingJelly's `LIFNode` (`decay_input=True`, hard reset to 0) is our `LIF` default:
# `H = V + (X − (V − V_reset))/τ`, fire at `H ≥ V_th`. `v_reset=None` (soft reset) is
# `reset="subtract"`; `ParametricLIFNode` is `PLIF` (learnable `1/τ = sigmoid(w)`).


# %%
def spikingjelly_lif(x, tau, soft=False, charge="lif"):
    """sj neuron.LIFNode / IFNode, written out; soft=True: v_reset=None."""
    v, out = torch.zeros_like(x[0]), []
    for x_t in x:
        h = v + x_t if charge == "if" else v + (x_t - v) / tau
        s = (h >= 1.0).to(x.dtype)
        v = h - s if soft else h * (1 - s)
        out.append(s)
    return torch.stack(out)


assert torch.equal(LIF(tau=2.0).double()(x), spikingjelly_lif(x, 2.0))
assert torch.equal(LIF(tau=2.0, reset="subtract").double()(x), spikingjelly_lif(x, 2.0, True))
assert torch.equal(IF().double()(x), spikingjelly_lif(x, 2.0, charge="if"))
assert torch.equal(PLIF(tau=2.0).double()(x), spikingjelly_lif(x, 2.0))  # same start
print("LIFNode, soft-reset LIFNode, IFNode, ParametricLIFNode: identical spikes")

# %% [markdown]
# ## 3. Norse's `LIFBoxCell`
#
# Norse integrates in physical time: `v ← v + dt·τ_mem_inv·((v_leak − v) + x)`, then a
# spike where `v > v_th` and a reset to `v_reset`. With `v_leak = v_reset = 0` that is our
# `LIF` with `1/τ = dt·τ_mem_inv` (Norse's defaults, `dt = 1 ms`, `τ_mem_inv = 100/s`:
# `τ = 10`).


# %%
def norse_lif_box(x, dt=1e-3, tau_mem_inv=100.0, v_th=1.0):
    v, out = torch.zeros_like(x[0]), []
    for x_t in x:
        v = v + dt * tau_mem_inv * (-v + x_t)
        z = (v > v_th).to(x.dtype)
        v = (1 - z) * v
        out.append(z)
    return torch.stack(out)


drive = x * 2.5
assert torch.equal(LIF(tau=10.0).double()(drive), norse_lif_box(drive))
print(f"LIFBoxCell ↔ LIF(tau=10): identical spikes, rate {norse_lif_box(drive).mean():.3f}")

# %% [markdown]
# ## 4. Current-based synapses
#
# Norse's `LIFCell` and snnTorch's `Synaptic` filter the input through a decaying synaptic
# current before the membrane. Ours is `CuBa`: `I[t] = α·I[t−1] + X[t]` drives a LIF
# membrane (`decay_input=False` by default, as `Synaptic`); its state holds both. The
# step order and scaling of Norse's `LIFCell` differ (its current reaches the membrane
# one step later, scaled by `dt·τ_mem_inv`): close, not identical.

# %%
cuba = CuBa(alpha=0.8, tau=10.0).double()
spikes, state = cuba.run(x * 0.3)
print(f"CuBa state fields {state._fields}, rate {spikes.mean():.3f}")
# the synaptic current by hand: I[t] = 0.8·I[t−1] + X[t]
current = torch.zeros_like(x[0])
for x_t in x * 0.3:
    current = 0.8 * current + x_t
assert torch.allclose(state.i, current)

# %% [markdown]
# ## 5. Renamed options and surrogates
#
# `threshold` / `v_threshold` → `v_th`; `learn_beta` → `learn_decay`; `spike_grad` /
# `surrogate_function` → `surrogate`, by name or object. snnTorch's `atan(alpha)` and
# SpikingJelly's `ATan(alpha)` use `σ′(x) = α / (2(1 + (παx/2)²))`, as ours does.

# %%
lif = LIF(v_th=0.5, learn_decay=True, learn_threshold=True, surrogate={"name": "atan", "alpha": 4})
print(sorted(name for name, _ in lif.named_parameters()))
assert lif.surrogate == ATan(alpha=4.0) == get_surrogate("atan", alpha=4.0)
u = torch.linspace(-1, 1, 11, dtype=torch.float64)
assert torch.allclose(ATan(alpha=4.0).derivative(u), 4 / (2 * (1 + (math.pi * 4 * u / 2) ** 2)))

# %% [markdown]
# ## 6. Per-step calls and state
#
# snnTorch's loop `spk, mem = lif(x_t, mem)` is `lif.step(x_t, state)` (`state=None`
# starts from rest) — or a single call on the whole `[T, B, ...]` sequence. Instead of
# `init_hidden=True`, `run` hands the state back and takes it again.

# %%
lif = LIF(tau=4.0, decay_input=False).double()
state, record = None, []
for x_t in x:
    spk, state = lif.step(x_t, state)
    record.append(spk)
assert torch.equal(torch.stack(record), lif(x))
first, carried = lif.run(x[:20])
rest, _ = lif.run(x[20:], carried)
assert torch.equal(torch.cat([first, rest]), lif(x))
print("a per-step loop, one call, and two chunks with the state carried: identical")

# %% [markdown]
# ## 7. `reset_net` is not needed
#
# A neuron keeps no state between calls, so two calls give the same answer without any
# reset. `neuron.reset()` exists and does nothing, so ported loops run; the reset *mode* is
# `neuron.reset_mode`.

# %%
lif = LIF().double()
assert torch.equal(lif(x), lif(x))
assert lif.reset() is None and lif.reset_mode == "zero"

# %% [markdown]
# ## 8. Multi-step layers
#
# SpikingJelly's `SeqToANNContainer(conv)` (or `step_mode='m'` layers) is `fold(conv)`: `T`
# folded into the batch for one call. A single step `[B, F]` given to `neuron(x)` is
# refused (it would read as `T = B`); the message names `step` and `x.unsqueeze(0)`.

# %%
conv = nn.Conv2d(2, 3, 3, padding=1).double()
frames = torch.rand(4, 2, 2, 6, 6, dtype=torch.float64)  # [T, B, C, H, W]
assert torch.allclose(fold(conv)(frames), torch.stack([conv(f) for f in frames]))
try:
    LIF()(torch.rand(3, 5))
except ValueError as error:
    print("refused:", str(error)[:120], "...")
else:
    raise AssertionError("a 2-D input must be refused")

# %% [markdown]
# ## 9. Losses and objectives
#
# Objectives take the output `[T, B, C]` and labels `[B]`. snnTorch's `ce_count_loss`
# (cross-entropy of spike counts) is `ce_rate`; `ce_max_membrane_loss` is `ce_membrane`
# with `reduction="max"`; SpikingJelly's TET loss (the mean over steps of each step's
# cross-entropy) is `ce_per_step`; a firing-rate MSE against targets is `mse_count`.
# Scalings can differ (snnTorch's `mse_count_loss` and ours both aim at target counts;
# check the API page for each objective's exact form). Each checked here by hand:

# %%
out = torch.rand(6, 4, 3, dtype=torch.float64)  # [T, B, C]
spk = (out > 0.5).to(out.dtype)
y = torch.tensor([0, 2, 1, 2])
ce = nn.functional.cross_entropy
assert torch.isclose(CERate()(spk, y), ce(spk.sum(0), y))
assert torch.isclose(CEMembrane(reduction="max")(out, y), ce(out.max(0).values, y))
assert torch.isclose(CEMembrane()(out, y), ce(out.mean(0), y))
assert torch.isclose(CEPerStep()(out, y), torch.stack([ce(o, y) for o in out]).mean())
targets = torch.full((4, 3), 0.2 * 6).scatter(1, y[:, None], 0.8 * 6)  # counts
assert torch.isclose(MSECount()(spk, y), nn.functional.mse_loss(spk.sum(0), targets))
print("ce_rate, ce_membrane (max, mean), ce_per_step, mse_count: as written above")
