# %% [markdown]
# # T-RevSNN: temporal-reversible training
#
# **What this shows.** T-RevSNN (Hu et al., ICML 2024; `model.name=trevsnn_cifar`) runs
# one sub-network (column) per time step and carries four per-stage states across time.
# Each step's state can be rebuilt from the next one, so training need not keep the
# activations of every step: the reversible forward keeps only the input, the last
# state and the random-number states, and the backward recomputes one block at a time.
# Checked here:
#
# - the same network trained reversibly and by plain BPTT (`model.kwargs.reversible=false`)
#   on digits, 3 epochs each (the shipped config trains 15): both learn the task (≥ 70 %
#   test accuracy, chance 10 %);
# - what autograd keeps for backward after one forward, counted with
#   `torch.autograd.graph.saved_tensors_hooks`: the reversible net keeps less than a tenth
#   of BPTT's, and its share stays flat as blocks are added while BPTT's grows;
# - on a tiny net in float64, the reversible backward's gradients equal BPTT's (≤ 1e-8).
#
# Time and resident memory per training step on CIFAR-sized inputs are measured by
# `spikeforge bench trevsnn_memory --out benchmarks/results` (recorded in
# `benchmarks/results/trevsnn_memory.md`: 7.7× less peak memory than BPTT at 8 blocks
# per stage, 1.5–1.8× the time per step); the count of saved tensors below needs no
# timing and is deterministic.

# %%
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from spikeforge.bench.trevsnn_memory import saved_bytes
from spikeforge.engine.config import load_config
from spikeforge.engine.run import train
from spikeforge.losses import TRevSNNLoss
from spikeforge.models import create

torch.set_num_threads(1)

# %% [markdown]
# ## Reversible and BPTT training from the shipped config
#
# `digits_trevsnn` is `trevsnn_cifar` (channels 16-32-64-128, T = 4 columns, 2 blocks per
# stage) with the paper's loss `train.objective=trevsnn`:
# `Σ_i (i/T)·CE(o_i, y) + CE(o_T, y)`. Evaluation reads only the last column's head.

# %%
common = ["train.epochs=3", "train.progress=false", "train.tensorboard=false"]
accuracy = {}
for name, overrides in {"reversible": [], "bptt": ["model.kwargs.reversible=false"]}.items():
    _, final = train(load_config("digits_trevsnn", [*common, *overrides]))
    accuracy[name] = final["test_acc"]
    print(f"{name:10s} test accuracy {final['test_acc']:.4f}")
assert min(accuracy.values()) >= 0.70, accuracy  # chance: 0.10

# %% [markdown]
# ## What autograd keeps for backward
#
# `spikeforge.bench.trevsnn_memory.saved_bytes` runs one forward inside
# `saved_tensors_hooks` and adds up the distinct storages handed to autograd (parameters
# excluded: they are saved by reference), plus the random-number states the reversible
# Function keeps. Digits-sized inputs `[T, B, 1, 8, 8]`, batch 64, 1 to 4 blocks per stage.

# %%
x = torch.rand(4, 64, 1, 8, 8)
saved = {}
for blocks in (1, 2, 4):
    for reversible in (True, False):
        torch.manual_seed(0)
        net = create(
            "trevsnn_cifar",
            num_classes=10,
            in_channels=1,
            input_size=8,
            blocks=blocks,
            timesteps=4,
            reversible=reversible,
        ).train()
        saved[blocks, reversible] = saved_bytes(net, x) / 2**20
    print(
        f"{blocks} block(s) per stage: reversible {saved[blocks, True]:6.2f} MiB, "
        f"BPTT {saved[blocks, False]:6.2f} MiB"
    )
blocks = [1, 2, 4]
plt.figure(figsize=(5, 3))
plt.plot(blocks, [saved[b, False] for b in blocks], "o-", label="BPTT")
plt.plot(blocks, [saved[b, True] for b in blocks], "s-", label="reversible")
plt.xticks(blocks)
plt.xlabel("blocks per stage")
plt.ylabel("kept for backward (MiB)")
plt.legend()
plt.tight_layout()
assert saved[2, False] > 10 * saved[2, True]  # the shipped size: far less kept for backward
assert saved[4, True] <= 1.1 * saved[1, True]  # flat in the depth of each stage
assert saved[4, False] > 2 * saved[1, False]  # BPTT's grows with it

# %% [markdown]
# ## Reversible gradients are BPTT's gradients
#
# A tiny net (channels 4-6-8-8, T = 3) in float64. Its α gates are set to non-trivial
# values so the inverse `c^{t−1} = (c^t − B(...)) / α` is exercised. BatchNorm running
# statistics move once per step in both modes; they are reset between the two runs so
# both see the same normalisation.

# %%
torch.manual_seed(0)
tiny = create(
    "trevsnn_cifar",
    num_classes=3,
    in_channels=1,
    input_size=8,
    channels=(4, 6, 8, 8),
    blocks=2,
    timesteps=3,
).double()
with torch.no_grad():
    for column in tiny.columns[1:]:
        for alpha in column.alphas:
            alpha.uniform_(-1.5, 1.5)
xs = 2 * torch.rand(4, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
ys = torch.tensor([0, 1, 2, 1])
loss = TRevSNNLoss(label_smoothing=0.1)
grads = {}
for reversible in (True, False):
    for m in tiny.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
    tiny.reversible = reversible
    tiny.train().zero_grad()
    loss(tiny(xs), ys).backward()
    grads[reversible] = {n: p.grad.clone() for n, p in tiny.named_parameters()}
worst = max(
    ((grads[True][n] - g).abs().max() / max(1.0, g.abs().max().item())).item()
    for n, g in grads[False].items()
)
print(f"{len(grads[False])} parameter tensors; largest relative difference {worst:.2e}")
assert worst <= 1e-8
