# %% [markdown]
# # Exporting to NIR, and torch.compile
#
# **What this shows.** A model leaves spikeforge as a NIR graph (the Neuromorphic
# Intermediate Representation, read by snnTorch, SpikingJelly, Norse, Lava, Rockpool,
# Sinabs…; `pip install 'spikeforge[nir]'`) and comes back unchanged. Checked here:
#
# - a conv SNN (`csnn_tiny`) trained on digits is exported with `to_nir`, written with
#   `nir.write`, read with `nir.read` and rebuilt with `from_nir`: the rebuilt network
#   gives the trained one's outputs (float64, to 1e-10 — BatchNorm is folded into the conv
#   before it, which rounds) and the same test accuracy;
# - what NIR cannot represent is refused with the layer's name and the reason, never
#   silently changed: a subtract ("soft") reset neuron, here;
# - `torch.compile(model, fullgraph=True)` compiles `csnn_tiny` as one graph (it raises on
#   any graph break) and its outputs and gradients equal eager's.
#
# The same from the command line, for a run's checkpoint:
# `spikeforge export --checkpoint runs/<run>/best.pt --format nir model.nir`.

# %%
import tempfile
from pathlib import Path

import nir
import torch
from torch import nn

from spikeforge.data import load_dataset
from spikeforge.engine.config import load_config
from spikeforge.engine.run import train
from spikeforge.export import NIRExportError, from_nir, to_nir
from spikeforge.layers import fold
from spikeforge.models import create
from spikeforge.neurons import LIF

torch.set_num_threads(1)

# %% [markdown]
# ## Train, export, read back
#
# `to_nir` takes one sample's shape at one step — `(1, 8, 8)`, no T and no B — and the
# Euler step `dt` a NIR reader will simulate with (LIF's `τ` becomes `τ·dt` seconds;
# snnTorch and SpikingJelly read with `dt = 1e-4`). The graph stores `dt` in its metadata,
# so `from_nir` needs nothing else.

# %%
trainer, final = train(load_config("digits_csnn", ["train.epochs=2", "train.progress=false"]))
model = trainer.model.eval()
print(f"trained csnn_tiny: test accuracy {final['test_acc']:.4f}")

graph = to_nir(model, input_shape=(1, 8, 8), dt=1e-4)
path = Path(tempfile.mkdtemp()) / "csnn_tiny.nir"
nir.write(path, graph)
read = nir.read(path)
imported = from_nir(read).eval()
print(f"{path.name}: {path.stat().st_size:,} bytes")
for name, node in read.nodes.items():
    print(f"  {name:8s} {type(node).__name__}")
print("edges:", read.edges)

# %% [markdown]
# Both networks run on the digits test set, direct encoding at T = 4, in float64 (the
# rebuilt network's weights are the file's float32 arrays; float64 arithmetic keeps the
# comparison about the mapping, not about rounding order).

# %%
test = load_dataset("digits", "test")
images = torch.stack([test[i][0] for i in range(len(test))]).double()
labels = torch.tensor([int(test[i][1]) for i in range(len(test))])
x = images.unsqueeze(0).repeat(4, 1, 1, 1, 1)  # [T, B, 1, 8, 8]
with torch.no_grad():
    ours = model.double()(x)
    back = imported.double()(x)
difference = (back - ours).abs().max().item()
acc_ours = (ours.mean(0).argmax(-1) == labels).float().mean().item()
acc_back = (back.mean(0).argmax(-1) == labels).float().mean().item()
print(f"outputs {tuple(ours.shape)}, largest difference {difference:.1e}")
print(f"test accuracy: trained {acc_ours:.4f}, rebuilt from NIR {acc_back:.4f}")
assert difference <= 1e-10
assert acc_back == acc_ours and acc_ours >= 0.8

# %% [markdown]
# ## What NIR cannot hold is refused
#
# NIR's LIF resets to `v_reset` ("hard" reset). A neuron that subtracts the threshold
# instead has no NIR equivalent, so the export names it and stops
# (`to_nir(..., approximate=True)` would export it as a hard reset, with a warning).

# %%
soft = nn.Sequential(fold(nn.Linear(4, 3)), LIF(reset="subtract"))
try:
    to_nir(soft, input_shape=(4,))
    raise AssertionError("a soft-reset neuron was exported")
except NIRExportError as error:
    print(f"NIRExportError: {error}")
    assert "subtract" in str(error)

# %% [markdown]
# ## torch.compile
#
# The fused CPU kernels are `torch.library` custom ops with fake implementations and
# autograd formulas, so dynamo sees through the whole model. A small backend records the
# graphs dynamo hands over, then runs `aot_eager` (forward and backward traced by
# AOTAutograd, no code generation: fast to compile; the default Inductor backend gives
# the same numbers, `tests/test_kernels_cpu.py`). float64, T = 4, batch 8.

# %%
from torch._dynamo.backends.registry import lookup_backend

graphs = []


def recording(gm, example_inputs):
    graphs.append(gm)
    return lookup_backend("aot_eager")(gm, example_inputs)


torch.manual_seed(0)
eager = create("csnn_tiny", num_classes=10).double()
compiled_copy = create("csnn_tiny", num_classes=10).double()
compiled_copy.load_state_dict(eager.state_dict())
compiled = torch.compile(compiled_copy, fullgraph=True, backend=recording)

xb = x[:, :8]


def step(net, parameters):
    """Output and the gradients of a scalar of it, as one training step would take them."""
    out = net(xb)
    return out.detach(), torch.autograd.grad(out.square().sum(), parameters)


out_e, grads_e = step(eager, list(eager.parameters()))
out_c, grads_c = step(compiled, list(compiled_copy.parameters()))
ops = sorted({str(n.target) for n in graphs[0].graph.nodes if "spikeforge" in str(n.target)})
gap = max((a - b).abs().max().item() for a, b in zip(grads_c, grads_e, strict=True))
print(f"{len(graphs)} graph(s); spikeforge ops in it: {ops or 'none (plain-torch fallback)'}")
print(f"largest output difference {(out_c - out_e).abs().max():.1e}, gradient difference {gap:.1e}")
assert len(graphs) == 1
torch.testing.assert_close(out_c, out_e, rtol=1e-12, atol=1e-12)
for a, b in zip(grads_c, grads_e, strict=True):
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
