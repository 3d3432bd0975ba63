"""The implementations the neuron benchmark compares, for CPU and (built without a GPU)
CUDA."""

import torch

from spikeforge.bench import device as bd
from spikeforge.bench import lif_impls as li
from spikeforge.bench import neurons as nb

CPU_OURS = ["spikeforge torch", "spikeforge cpu", "spikeforge cpu (pool off)"]


def _name(impl: li.Impl | tuple[str, str]) -> str:
    return impl[0] if isinstance(impl, tuple) else impl.name


def _peer_prefixes(impls: list) -> list[str]:
    names = [_name(i) for i in impls if not _name(i).startswith("spikeforge")]
    return [next(p for p in nb.PEER_PREFIXES if n.startswith(p)) for n in names]


def test_cpu_row_set_is_unchanged():
    for impls in (li.implementations(), li.implementations("cpu")):
        names = [_name(i) for i in impls]
        assert names[:3] == CPU_OURS
        assert not any(n.startswith("spikeforge") for n in names[3:])
        assert _peer_prefixes(impls) == ["SpikingJelly", "snnTorch", "Norse", "Norse"]


def test_cuda_list_is_built_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def no_cuda_init(*args, **kwargs):
        raise AssertionError("building the CUDA list initialised CUDA")

    monkeypatch.setattr(torch.cuda, "_lazy_init", no_cuda_init)
    impls = li.implementations("cuda")
    names = [_name(i) for i in impls]
    assert names[:2] == ["spikeforge torch", "spikeforge triton"]
    assert not any(n.startswith("spikeforge cpu") for n in names)
    dtypes = {i.name: i.dtype for i in impls if not isinstance(i, tuple)}
    assert dtypes["spikeforge triton (float16)"] == torch.float16
    assert dtypes["spikeforge triton (bfloat16)"] == torch.bfloat16
    assert _peer_prefixes(impls)[:1] == ["SpikingJelly"]
    assert {"snnTorch", "Norse"} <= set(_peer_prefixes(impls))
    assert bd.CudaBenchDevice.fused_backend == "triton"
    assert any("spikeforge cpu" in note for note in bd.CudaBenchDevice.notes)


class _OldLIFNode:
    """SpikingJelly 0.0.0.0.x style: the kernel is chosen per module."""

    def __init__(self, tau=2.0, step_mode="s", backend="torch"):
        self.step_mode = step_mode

    @property
    def supported_backends(self):
        return ("torch", "cupy") if self.step_mode == "m" else ("torch",)


class _NewLIFNode:
    """SpikingJelly 2.0 style: no backend argument."""

    def __init__(self, tau=2.0, step_mode="s"):
        pass


class _BrokenLIFNode:
    def __init__(self, step_mode="s", backend="torch"):
        raise RuntimeError("unexpected API")


def test_spikingjelly_rows_only_for_backends_the_version_accepts():
    assert li._spikingjelly_backends(_OldLIFNode, "cuda") == [None, "cupy"]
    assert li._spikingjelly_backends(_OldLIFNode, "cpu") == [None]
    assert li._spikingjelly_backends(_NewLIFNode, "cuda") == [None]
    assert li._spikingjelly_backends(_BrokenLIFNode, "cuda") == [None]
