"""The LIF implementations the neuron benchmark compares: ours (reference, fused CPU /
Triton, half precision on CUDA) and the peers' (SpikingJelly, snnTorch, Norse), each
built with matched dynamics (τ = 2, V_th = 1, hard reset to 0, arctan surrogate)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..functional.lif import LIFParameters, lif_sequence
from .device import DEVICES

TAU_INV = 0.5
V_TH = 1.0

# ---------------------------------------------------------------------- implementations

Layer = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Impl:
    """One benchmarked implementation.

    ``make(shape, device)`` builds the layer on ``device`` (building this record runs
    nothing, so the list for ``"cuda"`` can be made on a machine without a GPU).
    ``details(device)``, if given, is asked once the layer has run on ``device`` and
    appends what the library chose there (e.g. SpikingJelly's CUDA implementation).
    """

    name: str
    make: Callable[[tuple[int, ...], torch.device], Layer]
    reference: LIFParameters | None  # matched dynamics for the spike check
    notes: str = ""
    dtype: torch.dtype = torch.float32  # the input is cast to this dtype
    details: Callable[[torch.device], str] | None = None


def _ours(backend: str, pool: bool = True, dtype: torch.dtype = torch.float32) -> Impl:
    p = LIFParameters(inv_tau=TAU_INV, v_th=V_TH, v_reset=0.0, reset="zero")

    def make(shape: tuple[int, ...], device: torch.device) -> Layer:
        if pool:
            return lambda x: lif_sequence(x, p=p, backend=backend)[0]
        from ..kernels.cpu._pool import POOL

        def run(x: torch.Tensor) -> torch.Tensor:
            cap, POOL.cap_bytes = POOL.cap_bytes, 0
            try:
                return lif_sequence(x, p=p, backend=backend)[0]
            finally:
                POOL.cap_bytes = cap

        return run

    if dtype != torch.float32:
        # computed in float32 registers: spikes equal the float32 reference on the
        # same (rounded) input, which is what the spike check compares against
        dt = str(dtype).removeprefix("torch.")
        return Impl(f"spikeforge {backend} ({dt})", make, p, f"{dt} input and spikes", dtype)
    if pool:
        return Impl(f"spikeforge {backend}", make, p)
    note = "output buffer pool disabled: outputs come from torch.empty (glibc)"
    return Impl(f"spikeforge {backend} (pool off)", make, p, note)


def _our_impls(device: str) -> list[Impl]:
    """Our reference and the fused kernels that run on ``device``."""
    if device == "cpu":
        return [_ours("torch"), _ours("cpu"), _ours("cpu", pool=False)]
    if device == "cuda":
        return [
            _ours("torch"),
            _ours("triton"),
            _ours("triton", dtype=torch.float16),
            _ours("triton", dtype=torch.bfloat16),
        ]
    raise ValueError(f"device must be one of {DEVICES}, got {device!r}")


def _spikingjelly_backends(lif_node: Any, device: str) -> list[str | None]:
    """Backends to time: ``None`` (the default path, no ``backend`` argument) and, on CUDA,
    every other backend a release whose ``LIFNode`` takes a ``backend`` argument lists in
    its ``supported_backends`` (0.0.0.0.x: ``"torch"``, ``"cupy"``). Only what the
    installed version itself accepts becomes a row."""
    params = inspect.signature(lif_node.__init__).parameters
    if device != "cuda" or "backend" not in params:
        return [None]
    default = params["backend"].default
    try:
        accepted = tuple(lif_node(step_mode="m").supported_backends)
    except Exception:  # an unexpected API: keep the default path only
        accepted = ()
    return [None, *(b for b in accepted if b != default)]


def _spikingjelly_choice(functional: Any) -> Callable[[torch.device], str] | None:
    """SpikingJelly 2.0 picks its CUDA implementation per device (native CUDA, Triton or
    torch); its public ``neuron_implementation`` says which one the default path ran."""
    query = getattr(functional, "neuron_implementation", None)
    if query is None:
        return None

    def details(device: torch.device) -> str:
        found = query("lif", device)
        text = f"SpikingJelly ran its {found.get('implementation')!r} implementation"
        unavailable = found.get("unavailable") or {}
        if unavailable:
            text += " (unavailable: " + ", ".join(sorted(unavailable)) + ")"
        return text

    return details


def _spikingjelly(device_name: str = "cpu") -> list[Impl] | str:
    try:
        import spikingjelly
        from spikingjelly.activation_based import functional, neuron, surrogate
    except Exception as exc:
        return f"not installed ({type(exc).__name__})"
    version = getattr(spikingjelly, "__version__", None)
    if version is None:
        from importlib.metadata import version as _v

        version = _v("spikingjelly")

    def maker(backend: str | None) -> Callable[[tuple[int, ...], torch.device], Layer]:
        kwargs = {} if backend is None else {"backend": backend}

        def make(shape: tuple[int, ...], device: torch.device) -> Layer:
            node = neuron.LIFNode(
                tau=1.0 / TAU_INV,
                decay_input=True,
                v_threshold=V_TH,
                v_reset=0.0,
                surrogate_function=surrogate.ATan(),
                detach_reset=False,
                step_mode="m",
                **kwargs,
            )

            def run(x: torch.Tensor) -> torch.Tensor:
                node.reset()
                return node(x)

            return run

        return make

    p = LIFParameters(inv_tau=TAU_INV, v_th=V_TH, reset="zero", decay_input=True)
    out = []
    for backend in _spikingjelly_backends(neuron.LIFNode, device_name):
        if backend is None:
            note = "default path (no backend arg)"
            details = _spikingjelly_choice(functional) if device_name == "cuda" else None
            name = f"SpikingJelly {version} LIFNode(m)"
        else:
            note, details = f"backend={backend!r}", None
            name = f"SpikingJelly {version} LIFNode(m, {backend})"
        out.append(Impl(name, maker(backend), p, note, details=details))
    return out


def _snntorch(device_name: str = "cpu") -> list[Impl] | str:
    try:
        import snntorch
        from snntorch import surrogate
    except Exception as exc:
        return f"not installed ({type(exc).__name__})"

    def make(shape: tuple[int, ...], device: torch.device) -> Layer:
        lif = snntorch.Leaky(
            beta=1.0 - TAU_INV,
            threshold=V_TH,
            spike_grad=surrogate.atan(alpha=2.0),
            reset_mechanism="zero",
        ).to(device)  # beta and threshold are buffers

        def run(x: torch.Tensor) -> torch.Tensor:
            mem = torch.zeros_like(x[0])
            out = []
            for x_t in x.unbind(0):
                spk, mem = lif(x_t, mem)
                out.append(spk)
            return torch.stack(out)

        return run

    p = LIFParameters(inv_tau=TAU_INV, v_th=V_TH, reset="zero", decay_input=False)
    name = f"snnTorch {snntorch.__version__} Leaky (loop)"
    return [Impl(name, make, p, "U=βU+X form, fires at >")]


def _norse_box(device_name: str = "cpu") -> list[Impl] | str:
    try:
        import norse
        from norse.torch import LIFBoxCell, LIFBoxParameters
    except Exception as exc:
        return f"not installed ({type(exc).__name__})"
    dt = 0.001

    def make(shape: tuple[int, ...], device: torch.device) -> Layer:
        params = LIFBoxParameters(
            tau_mem_inv=torch.tensor(TAU_INV / dt, device=device),
            v_leak=torch.tensor(0.0, device=device),
            v_th=torch.tensor(V_TH, device=device),
            v_reset=torch.tensor(0.0, device=device),
            method="super",
            alpha=torch.tensor(100.0, device=device),
        )
        cell = LIFBoxCell(params, dt=dt)

        def run(x: torch.Tensor) -> torch.Tensor:
            state = None
            out = []
            for x_t in x.unbind(0):
                z, state = cell(x_t, state)
                out.append(z)
            return torch.stack(out)

        return run

    version = getattr(norse, "__version__", "")
    p = LIFParameters(inv_tau=TAU_INV, v_th=V_TH, reset="zero", decay_input=True)
    return [
        Impl(
            f"Norse {version} LIFBoxCell (loop)".replace("  ", " "),
            make,
            p,
            "SuperSpike surrogate (no atan), fires at >",
        )
    ]


def _norse_lif(device_name: str = "cpu") -> list[Impl] | str:
    try:
        import norse
        from norse.torch import LIF
        from norse.torch import LIFParameters as NorseLIFParameters
    except Exception as exc:
        return f"not installed ({type(exc).__name__})"
    dt = 0.001

    def make(shape: tuple[int, ...], device: torch.device) -> Layer:
        params = NorseLIFParameters(
            tau_syn_inv=torch.tensor(1.0 / dt, device=device),
            tau_mem_inv=torch.tensor(TAU_INV / dt, device=device),
            v_leak=torch.tensor(0.0, device=device),
            v_th=torch.tensor(V_TH, device=device),
            v_reset=torch.tensor(0.0, device=device),
            method="super",
            alpha=torch.tensor(100.0, device=device),
        )
        layer = LIF(params, dt=dt)
        return lambda x: layer(x)[0]

    version = getattr(norse, "__version__", "")
    return [
        Impl(
            f"Norse {version} LIF (module)".replace("  ", " "),
            make,
            None,
            "current-based dynamics (not matched): timing only",
        )
    ]


def implementations(device: str = "cpu") -> list[Impl | tuple[str, str]]:
    """Ours first, then each peer (or ``(name, "not installed ...")``), for ``device``.

    Building the list imports the peers but runs nothing, so the ``"cuda"`` list can be
    built (and tested) on a machine without a GPU. Every peer factory takes the device
    name; only SpikingJelly's rows depend on it (its backends).
    """
    out: list[Impl | tuple[str, str]] = list(_our_impls(device))
    for name, factory in (
        ("SpikingJelly LIFNode(m)", _spikingjelly),
        ("snnTorch Leaky (loop)", _snntorch),
        ("Norse LIFBoxCell (loop)", _norse_box),
        ("Norse LIF (module)", _norse_lif),
    ):
        made = factory(device)
        if isinstance(made, str):
            out.append((name, made))
        else:
            out.extend(made)
    return out


# ---------------------------------------------------------------------------- running


def _details(impl: Impl, device: torch.device) -> str:
    """``impl.details(device)``; the query is informative only, so its failure is noted
    rather than turning the row (and its timings) into an error."""
    assert impl.details is not None
    try:
        return impl.details(device)
    except Exception as exc:
        return f"implementation query failed ({type(exc).__name__}: {exc})"[:120]
