# %% [markdown]
# # Energy analysis and reports
#
# **What this shows.** How spikeforge counts the operations of a network and turns them
# into energy per inference (45 nm: 4.6 pJ per multiply-accumulate, 0.9 pJ per
# accumulate). A layer whose input is spikes does one accumulate (AC) per spike per
# fan-out; a layer whose input is analog does a MAC per weight. Checked here on a network
# small enough to count by hand, then applied to a trained conv SNN (`spikeforge energy`)
# and its self-contained HTML report (`spikeforge report`).

# %%
from pathlib import Path

import torch
from torch import nn

from spikeforge.analysis import ENERGY_PRESETS, count_operations, estimate_energy
from spikeforge.engine.config import load_config
from spikeforge.engine.inspect import checkpoint_energy, write_run_report
from spikeforge.engine.run import train
from spikeforge.layers import fold
from spikeforge.neurons import LI, LIF

torch.set_num_threads(1)
print(ENERGY_PRESETS["45nm"])

# %% [markdown]
# ## Counting by hand
#
# Two steps of a `4 → 3` spiking layer with three input spikes in all: each spike reaches
# the 3 outputs, so 9 accumulates, `9 × 0.9 = 8.1` pJ. The ANN twin (one step, every
# weight a MAC) costs `12 × 4.6 = 55.2` pJ for the same layer.

# %%
net = nn.Sequential(fold(nn.Linear(4, 3)), LIF(), fold(nn.Linear(3, 2)), LI(tau=None))
x = torch.zeros(2, 1, 4)  # [T=2, B=1, 4]
x[0, 0, [0, 2]] = 1
x[1, 0, 1] = 1
report = estimate_energy(count_operations(net, x))
first = report.layers[0]
print(first)
assert (first.kind, first.sops) == ("AC", 9.0)
assert abs(first.snn_pj - 9 * 0.9) < 1e-9
assert abs(first.ann_pj - 12 * 4.6) < 1e-9

analog = estimate_energy(count_operations(net, torch.rand(2, 1, 4))).layers[0]
assert analog.kind == "MAC" and analog.sops == 24  # analog input: every weight, every step
print(f"analog input: {analog.kind}, {analog.sops:.0f} ops, {analog.snn_pj:.1f} pJ")

# %% [markdown]
# ## A trained conv SNN
#
# `checkpoint_energy` is what `spikeforge energy --checkpoint RUN/best.pt` prints: the
# operations and energy per inference averaged over test samples, with the accuracy on
# those samples. The first conv sees the analog image (MACs); every later layer sees
# spikes (ACs), so the SNN's cost follows its firing rates.

# %%
trainer, final = train(load_config("digits_csnn", ["train.epochs=2", "train.progress=false"]))
energy = checkpoint_energy(trainer.run_dir / "best.pt", samples=128)
print(energy.table())
print(f"SNN {energy.snn_pj / 1e6:.3f} µJ vs ANN twin {energy.ann_pj / 1e6:.3f} µJ per inference")
kinds = [layer.kind for layer in energy.layers]
assert kinds[0] == "MAC" and set(kinds[1:]) == {"AC"}
assert abs(energy.snn_pj - sum(layer.snn_pj for layer in energy.layers)) < 1e-6 * energy.snn_pj

# %% [markdown]
# ## The HTML report
#
# `write_run_report` (`spikeforge report RUN`) writes one self-contained file: training
# curves, firing rates per layer, spike rasters and the energy table, as inline SVG —
# it opens without a network.

# %%
path = write_run_report(trainer.run_dir)
html = Path(path).read_text(encoding="utf-8")
print(f"{path.name}: {len(html) / 1024:.0f} KiB, {html.count('<svg')} inline plots")
assert html.count("<svg") >= 2
assert 'src="http' not in html and 'href="http' not in html  # nothing fetched
