"""Speed of the neuron variants on fused CPU kernels — CuBa (synaptic current + LIF), ALIF
(adaptive threshold) and the LI readout — against their plain-torch reference and the
peers' CuBa neurons.

For each T, one layer of B × N neurons is driven by the same random input ``[T, B, N]``
and timed for inference (forward under ``no_grad``) and training (forward +
``torch.autograd.grad(y, x, g)`` for a fixed upstream gradient ``g``: the layer alone, as
in :mod:`.neurons`), best of several repeats after a warm-up (medians in the JSON).
Ratios are against the same neuron with ``backend="torch"`` (the plain-torch time loop):
above 1 means faster.

- ``CuBa``: ``I[t] = 0.5 I[t-1] + X[t]``, then LIF without input decay (τ = 2),
  V_th = 1, hard reset, atan surrogate; ``backend="auto"`` runs the fused ``"leaky"``
  scan for the current and the fused ``"lif"`` kernel for the membrane.
- ``ALIF``: LIF (τ = 2) firing at ``V_th + 0.2 a[t-1]``, ``a[t] = 0.9 a[t-1] + S[t]``,
  subtract reset; ``backend="auto"`` runs the fused ``"alif"`` kernel.
- ``LI``: the readout membrane ``V[t] = V[t-1] + (X[t] - V[t-1]) / 2``.
- Peers, timing only (their dynamics differ in detail, so no spike comparison):
  snnTorch ``Synaptic(alpha=0.5, beta=0.5, reset_mechanism="zero")`` looped over T, and
  SpikingJelly ``CUBALIFNode`` in multi-step mode. Run with the interpreter of
  ``.venv-bench`` to include them; otherwise their rows say "not installed".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..neurons import ALIF, LI, CuBa
from .device import BenchDevice, bench_device, machine_info
from .layers import (
    finish_run,
    layer_bench_main,
    measure_candidates,
    ratio_sections,
    report_header,
)

FULL = {"B": 32, "N": 4096, "T": [4, 16, 64], "repeats": 7}
QUICK = {"B": 16, "N": 1024, "T": [4, 16], "repeats": 3}
GROUPS = {
    "CuBa": "CuBa (torch, reference)",
    "ALIF": "ALIF (torch, reference)",
    "LI": "LI (torch, reference)",
}

Factory = Callable[[], nn.Module]


def _ours() -> list[tuple[str, str, Factory | str]]:
    return [
        ("CuBa", GROUPS["CuBa"], lambda: CuBa(alpha=0.5, backend="torch")),
        ("CuBa", "CuBa (auto: fused)", lambda: CuBa(alpha=0.5)),
        ("ALIF", GROUPS["ALIF"], lambda: ALIF(b=0.2, rho=0.9, backend="torch")),
        ("ALIF", "ALIF (auto: fused)", lambda: ALIF(b=0.2, rho=0.9)),
        ("LI", GROUPS["LI"], lambda: LI(tau=2.0, backend="torch")),
        ("LI", "LI (auto: fused)", lambda: LI(tau=2.0)),
    ]


class _SnnTorchSynapticLoop(nn.Module):
    """snnTorch ``Synaptic`` over ``x.unbind(0)`` (spikes stacked)."""

    def __init__(self) -> None:
        super().__init__()
        import snntorch

        self.cell = snntorch.Synaptic(alpha=0.5, beta=0.5, reset_mechanism="zero")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        syn = torch.zeros_like(x[0])
        mem = torch.zeros_like(x[0])
        out = []
        for x_t in x.unbind(0):
            spk, syn, mem = self.cell(x_t, syn, mem)
            out.append(spk)
        return torch.stack(out)


def _peers() -> list[tuple[str, str, Factory | str]]:
    peers: list[tuple[str, str, Factory | str]] = []
    try:
        import snntorch

        name = f"snnTorch {snntorch.__version__} Synaptic (loop)"
        peers.append(("CuBa", name, _SnnTorchSynapticLoop))
    except ImportError:
        peers.append(("CuBa", "snnTorch Synaptic (loop)", "not installed"))
    try:
        import spikingjelly
        from spikingjelly.activation_based import neuron

        def sj() -> nn.Module:
            node = neuron.CUBALIFNode(c_decay=0.5, v_decay=0.5, v_threshold=1.0)
            node.step_mode = "m"
            return node

        version = getattr(spikingjelly, "__version__", "")
        peers.append(("CuBa", f"SpikingJelly {version} CUBALIFNode(m)".replace("  ", " "), sj))
    except ImportError:
        peers.append(("CuBa", "SpikingJelly CUBALIFNode(m)", "not installed"))
    return peers


class _Fresh(nn.Module):
    """A layer that starts from rest at every call (SpikingJelly nodes keep their state)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reset = getattr(self.layer, "reset", None)
        if callable(reset):
            reset()
        return self.layer(x)


def run(
    quick: bool = False, json_path: str | None = None, device: str | BenchDevice = "cpu"
) -> str:
    """Run the benchmark on ``device`` (``"cpu"``, ``"cuda"`` or a :class:`BenchDevice`);
    return a Markdown report (and write JSON to ``json_path``). On CUDA, ``auto`` runs the
    Triton kernels and the peers run on the GPU too."""
    dev = device if isinstance(device, BenchDevice) else bench_device(device)
    cfg = QUICK if quick else FULL
    info = machine_info() | dev.info() | {"device": dev.name}
    torch.manual_seed(0)
    candidates = [
        (group, name, f if isinstance(f, str) else (lambda T, f=f: _Fresh(f())))
        for group, name, f in [*_ours(), *_peers()]
    ]
    rows = measure_candidates(cfg, candidates, GROUPS, layer_only=True, device=dev.torch_device)
    return finish_run(rows, cfg, info, _report, json_path)


def _report(rows: list[dict[str, Any]], cfg: dict[str, Any], info: dict[str, Any], cmd: str) -> str:
    Ts = cfg["T"]
    title = (
        "CuBa, ALIF and LI on fused kernels vs their references and peers "
        f"({info.get('device', 'cpu').upper()})"
    )
    return "\n".join(
        [
            *report_header(title, cfg, info, cmd),
            "Peers: timing only (their dynamics differ in detail).",
            "",
            *ratio_sections(rows, Ts, "the same neuron's torch reference (higher = faster)"),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    return layer_bench_main(
        __doc__.splitlines()[0], run, argv, "small sizes (< 30 s)", with_device=True
    )


if __name__ == "__main__":
    raise SystemExit(main())
