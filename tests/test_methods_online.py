"""SLTT / SLTT-K: step-by-step training without temporal gradients, memory independent of T."""

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeforge.bench import rss
from spikeforge.layers import fold
from spikeforge.methods import METHODS, SLTT
from spikeforge.methods.online import StepwiseRunner
from spikeforge.models.eprop_rsnn import EpropRSNN
from spikeforge.neurons import LI, LIF, PSN, SlidingPSN
from spikeforge.neurons.alif import ALIF


def _net(neuron=LIF, dtype=torch.float64, seed=0) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(fold(nn.Linear(6, 12)), neuron(), fold(nn.Linear(12, 3)), LI())
    return net.to(dtype)


def _inputs(T=6, B=5, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return 2.0 * torch.rand(T, B, 6, generator=g, dtype=dtype), torch.tensor([0, 1, 2, 1, 0])


def _grads(net: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in net.named_parameters()}


@pytest.mark.parametrize("neuron", [LIF, ALIF, lambda: SlidingPSN(k=3)])
def test_stepping_one_step_per_call_continues_every_neuron(neuron):
    net = _net(neuron)
    x, _ = _inputs()
    with torch.no_grad():
        whole = net(x)
        with StepwiseRunner(net) as runner:
            steps = []
            for t in range(x.shape[0]):
                runner.begin_step()
                steps.append(net(x[t : t + 1]))
        assert torch.allclose(torch.cat(steps), whole, rtol=0, atol=1e-12)
        assert torch.equal(net(x), whole)  # outside the block: from rest again


def test_sltt_gradient_is_bptt_with_every_temporal_path_cut():
    net, ref = _net(), _net()
    x, y = _inputs()
    T = x.shape[0]
    out = SLTT()(net, x, y)
    # Reference: the neurons' own step() in a loop, state detached between steps, the
    # mean of the per-step losses, one backward at the end.
    lif, li = ref[1], ref[3]
    s_lif = s_li = None
    losses = []
    for t in range(T):
        spikes, s_lif = lif.step(ref[0](x[t : t + 1])[0], s_lif)
        o, s_li = li.step(ref[2](spikes[None])[0], s_li)
        s_lif, s_li = [type(s)(*(v.detach() for v in s)) for s in (s_lif, s_li)]
        losses.append(F.cross_entropy(o, y))
    loss = torch.stack(losses).mean()
    loss.backward()
    for name, g in _grads(net).items():
        assert torch.allclose(g, ref.get_parameter(name).grad, rtol=1e-10, atol=1e-12), name
    assert torch.allclose(out["loss"], loss.detach(), rtol=1e-12)
    assert out["output"].shape == (T, 5, 3) and not out["output"].requires_grad
    # ... and it is not BPTT's gradient of the same loss (the temporal path matters here)
    bptt = _net()
    torch.stack([F.cross_entropy(o, y) for o in bptt(x)]).mean().backward()
    assert not torch.allclose(bptt[0].layer.weight.grad, net[0].layer.weight.grad, rtol=1e-3)


def test_sltt_k_backpropagates_k_chosen_steps_weighted_one_over_k():
    net, ref = _net(), _net()
    x, y = _inputs()
    method = SLTT(k=2, seed=7)
    chosen = method.chosen_steps(x.shape[0])
    assert int(chosen.sum()) == 2
    method(net, x, y)
    assert int(method.batches_seen) == 1
    with StepwiseRunner(ref) as runner:
        for t in range(x.shape[0]):
            runner.begin_step()
            loss = method.objective(ref(x[t : t + 1]), y)
            if chosen[t]:
                (loss / 2).backward()
    for name, g in _grads(net).items():
        assert torch.allclose(g, ref.get_parameter(name).grad, rtol=1e-10, atol=1e-12), name
    # the next batch draws again; a method restored from the state dict draws the same
    draws = {tuple(method.chosen_steps(16).tolist()) for _ in range(1)}
    restored = SLTT(k=2, seed=7)
    restored.load_state_dict(method.state_dict())
    assert torch.equal(restored.chosen_steps(16), method.chosen_steps(16))
    method.batches_seen += 1
    draws.add(tuple(method.chosen_steps(16).tolist()))
    assert len(draws) == 2
    assert torch.equal(SLTT(k=99).chosen_steps(5), torch.ones(5, dtype=torch.bool))


def test_evaluation_runs_the_whole_sequence_with_the_same_loss():
    net = _net()
    x, y = _inputs()
    with torch.no_grad():
        terms = SLTT()(net, x, y)
        whole = net(x)
    assert torch.equal(terms["output"], whole)
    expected = torch.stack([F.cross_entropy(o, y) for o in whole]).mean()
    assert torch.allclose(terms["loss"], expected)


def test_bad_models_objectives_and_options_are_refused():
    x, y = _inputs(T=4)
    psn = nn.Sequential(fold(nn.Linear(6, 3)), PSN(T=4))
    with pytest.raises(ValueError, match=r"1 \(PSN\).*bptt"):
        SLTT()(psn.double(), x, y)
    with pytest.raises(ValueError, match="one time step"):
        SLTT(objective="ce_temporal")
    for k in (0, 1.5, True):
        with pytest.raises(ValueError, match="k "):
            SLTT(k=k)
    with pytest.raises(ValueError, match=r"<model> \(EpropRSNN\)"):
        SLTT(objective="ce_per_step")(EpropRSNN(6, 5, 3).double(), x, y)
    lif = LIF()
    twice = nn.Sequential(fold(nn.Linear(6, 3)), lif, lif).double()
    with pytest.raises(RuntimeError, match="ran twice"):
        SLTT(objective="ce_rate")(twice, x, y)
    assert isinstance(METHODS.create("sltt", objective="ce_rate"), SLTT)


needs_hwm = pytest.mark.skipif(
    rss.resident_peak_reason() is not None, reason=str(rss.resident_peak_reason())
)


_PEAKS_SCRIPT = """
import json, torch
from spikeforge.bench import rss
from spikeforge.methods import BPTT, OTTT, SLTT
from spikeforge.models.mlp import SpikingMLP

def peak(method, T):
    torch.manual_seed(0)
    net = SpikingMLP(256, 10, hidden_sizes=(1024, 1024), norm=False)
    x, y = torch.rand(T, 128, 256), torch.randint(0, 10, (128,))
    def step():
        terms = method(net, x, y)
        if not getattr(method, "backpropagates", False):
            terms["loss"].backward()
    step()  # warm-up: kernels built, gradients allocated
    return rss.resident_peak_extra_bytes(step)

print(json.dumps({name: [peak(m(), T) for T in (4, 32)] for name, m in
                  (("sltt", SLTT), ("ottt", OTTT), ("bptt", BPTT))}))
"""


@needs_hwm
def test_online_peak_memory_does_not_grow_with_the_steps_while_bptts_does():
    # In a fresh process with glibc's mmap threshold fixed: by default glibc raises the
    # threshold as large blocks are freed and serves them from a heap that fragments,
    # which adds ~0.35 MiB per step to the resident set here whatever holds the memory.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    run = subprocess.run(
        [sys.executable, "-c", _PEAKS_SCRIPT], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    peaks = json.loads(run.stdout)
    (sltt4, sltt32), (bptt4, bptt32) = peaks["sltt"], peaks["bptt"]
    assert sltt32 < 1.1 * sltt4 + 2**20, peaks  # one step's graph, whatever T is
    ottt4, ottt32 = peaks["ottt"]  # the same, plus one trace per synaptic layer
    assert ottt32 < 1.1 * ottt4 + 2**20, peaks
    assert bptt32 > 4 * bptt4, peaks  # every step's graph until the end
    assert bptt32 > 8 * sltt32, peaks
