r"""Export a spikeforge model to NIR, the Neuromorphic Intermediate Representation.

:func:`to_nir` walks the model and writes one NIR node per layer; ``nir.write(path,
graph)`` stores it as HDF5 for snnTorch, SpikingJelly, Norse, Lava, Rockpool, Sinabs,
SpiNNaker2 and other NIR readers. :func:`~spikeforge.export.from_nir` is the way back.

**Parameter mapping.** NIR neurons are continuous-time ODEs; a reader simulates them
with a forward-Euler step ``dt``. NIR's LIF is ``τ_N v̇ = (v_leak − v) + R·I``, so one
Euler step reads

    ``v ← v + (dt/τ_N)·(v_leak − v + R·I)``.

spikeforge's LIF charge is a discrete update (``τ`` in steps, :mod:`spikeforge.functional.lif`):

- ``decay_input=True``: ``H = V + (X − (V − V_reset))/τ = V + (1/τ)(V_reset − V + 1·X)``:
  the same step with ``dt/τ_N = 1/τ`` → **τ_N = τ·dt**, **R = 1**, **v_leak = V_reset**;
- ``decay_input=False``: ``H = V − (V − V_reset)/τ + X = V + (1/τ)(V_reset − V + τ·X)``
  → **τ_N = τ·dt**, **R = τ**, **v_leak = V_reset**;
- IF: ``H = V + X``; NIR's ``v̇ = R·I`` steps as ``v ← v + dt·R·I`` → **R = 1/dt**;
- hard reset to ``V_reset`` → **v_reset = V_reset**; ``v_threshold = V_th``;
- CuBa (``I[t] = α I[t−1] + X[t]`` driving the LIF above) → ``CubaLIF``: NIR's synapse
  ``τ_syn İ = −I + w_in·S`` steps as ``I ← (1 − dt/τ_syn) I + (dt/τ_syn)·w_in·S``, so
  **τ_syn = dt/(1 − α)** and **w_in = τ_syn/dt = 1/(1 − α)**; the membrane as LIF
  (``tau_mem = τ·dt``, ``r``, ``v_leak``);
- LI readout → ``LI(tau = τ·dt, r = 1 or τ, v_leak = 0)``; ``LI(tau=None)`` → ``I(r = 1/dt)``;
  :class:`~spikeforge.export.CubaLI` → ``CubaLI``;
- RLIF (``X[t] + W_rec S[t−1]``) → a subgraph ``input → LIF → output`` with the loop
  ``LIF → Linear(W_rec) → LIF`` (a one-to-one ``W_rec`` as a diagonal matrix): the loop's
  output reaches the LIF one step later, which is the ``S[t−1]``;
- stateless layers: ``Linear`` → ``Affine`` (``Linear`` without bias), ``Conv1d/2d`` →
  ``Conv1d/2d``, ``AvgPool2d`` → ``AvgPool2d`` (``divisor_override=1``: ``SumPool2d``),
  ``AdaptiveAvgPool2d(1)`` → ``AvgPool2d`` over the whole map, ``Flatten`` → ``Flatten``
  (NIR's dims exclude the batch: torch ``start_dim=1`` is NIR ``0``), ``BatchNorm`` and tdBN
  folded into the Linear/Conv before them with their *running* statistics (the inference
  form; a module in training mode warns); ``Dropout``/``Identity`` vanish (inference).
- A residual ADD (SEW ``connect="add"``, Spiking ResNet's block) is two edges into one
  node: NIR sums a node's inputs.

``τ_N`` is exact for ``dt = 1`` (the default) and any power of two; for other ``dt``
(peers assume ``dt = 1e-4``) :func:`~spikeforge.export.from_nir` recovers the float ``τ``
whose product with ``dt`` gives the stored ``τ_N``. Neuron parameters are stored as
float64 arrays of the layer's per-sample shape; weights keep the model's dtype.

**Initial state.** NIR does not say where a membrane starts; spikeforge's start at rest,
``V = V_reset`` (which is ``v_leak`` for LIF/CubaLIF, 0 for LI/I/CubaLI and the synaptic
current). For IF with ``V_reset ≠ 0`` a reader that starts at 0 differs in the first steps.

**Firing convention.** spikeforge fires when the membrane *reaches* the threshold
(``V ≥ V_th``), NIR when it *exceeds* it (``v > v_threshold``). The two agree except when
a membrane lands exactly on the threshold: there spikeforge spikes and a NIR simulator
does not. With analog inputs and weights this has probability zero; with integer-valued
inputs and thresholds it can happen, and then a reader's spikes differ from ours at those
steps. spikeforge's own importer keeps ``≥``, so a round trip is exact.

**Refused** (:class:`NIRExportError`, naming the layer and why): subtract (soft) reset
(NIR's LIF resets to ``v_reset``; ``approximate=True`` exports it as a hard reset with a
warning — the dynamics then differ), no reset with a threshold (``reset="none"``), graded
spikes (NIR neurons emit 0/1), ALIF (adaptive threshold), PSN/PSU/ParaLIF and other
parallel neurons (they read the whole sequence, not a state), SEW AND/IAND and OR joins
(products of two signals), max-pooling, tdBN/BatchNorm not directly after a Linear/Conv,
CuBa with ``α = 1`` (infinite synaptic time constant), and any other module.
``detach_reset`` and the surrogate change only gradients and are not exported.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn

from ..layers import ThresholdDependentBatchNorm, TimeFold
from ..models.mlp import SpikingMLP
from ..models.resnet import BasicBlock, SpikingResNet
from ..models.sew_resnet import SEWBlock
from ..neurons import IF, LI, LIF, PLIF, RLIF, CuBa, SpikingNeuron
from .modules import CubaLI, NIRGraphModule

#: Extra for ``pip install``: the ``nir`` package (pure Python: numpy + h5py).
NIR_EXTRA = "pip install 'spikeforge[nir]'  (or: pip install nir)"


class NIRExportError(ValueError):
    """A layer cannot be represented in NIR (the message names it and says why)."""


def require_nir() -> ModuleType:
    """The ``nir`` package, or an ``ImportError`` that says how to install it."""
    try:
        import nir
    except ModuleNotFoundError:
        raise ModuleNotFoundError(f"NIR export/import needs the nir package: {NIR_EXTRA}") from None
    return nir


def check_dt(dt: Any) -> float:
    """``dt`` as a positive finite float, else ``ValueError``."""
    if isinstance(dt, bool) or not isinstance(dt, int | float) or not 0 < dt < math.inf:
        raise ValueError(f"dt must be a positive finite number (seconds per step), got {dt!r}")
    return float(dt)


_WHY = {
    "subtract": "its reset is subtract (soft): NIR's neurons reset to v_reset",
    "none": "it has a threshold but no reset (reset='none'): NIR's spiking neurons reset",
}


@dataclass
class _Builder:
    nir: ModuleType
    dt: float
    approximate: bool
    nodes: dict[str, Any] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    foldable: str | None = None  # the Linear/Conv node a BatchNorm right after may fold into

    def add(self, hint: str, node: Any, inputs: list[str]) -> str:
        base = hint.replace(".", "_") or "node"
        name, k = base, 1
        while name in self.nodes:
            name, k = f"{base}_{k}", k + 1
        self.nodes[name] = node
        self.edges += [(src, name) for src in inputs]
        self.foldable = None
        return name

    def full(self, value: float | torch.Tensor, shape: tuple[int, ...]) -> np.ndarray:
        """A per-neuron float64 array of ``shape`` (a tensor parameter is broadcast)."""
        if isinstance(value, torch.Tensor):
            array = value.detach().to("cpu", torch.float64).numpy()
            return np.broadcast_to(array, shape).copy()
        return np.full(shape, float(value), dtype=np.float64)


def _refuse(path: str, module: nn.Module, why: str) -> NIRExportError:
    return NIRExportError(
        f"cannot export layer {path or '<model>'} ({type(module).__name__}) to NIR: {why}"
    )


def _array(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _check_reset(b: _Builder, path: str, m: LIF) -> None:
    if m.spike_scale is not None:
        raise _refuse(path, m, "graded spikes (graded=True) emit g·S; NIR neurons emit 0/1")
    if m.reset_mode == "zero":
        return
    if m.reset_mode == "subtract" and b.approximate:
        warnings.warn(
            f"layer {path} ({type(m).__name__}) has a subtract (soft) reset, exported with "
            f"approximate=True as a hard reset to v_reset={m.v_reset}: the NIR graph's "
            "dynamics differ from the model's",
            stacklevel=4,
        )
        return
    hint = " (approximate=True exports it as a hard reset, with a warning)"
    raise _refuse(path, m, _WHY[m.reset_mode] + (hint if m.reset_mode == "subtract" else ""))


def _membrane(b: _Builder, m: LIF | LI | CubaLI, shape: tuple[int, ...]) -> dict[str, Any]:
    """``tau``, ``r``, ``v_leak`` of the LIF charge (see the module docstring)."""
    if isinstance(m, LIF):
        tau = 1.0 / m.inv_tau if not isinstance(m.inv_tau, torch.Tensor) else None
        if m.decay_logit is not None:  # PLIF: 1/τ = sigmoid(w), per layer or channel
            tau = 1.0 / torch.sigmoid(m.decay_logit.detach().double())
        rest = m.v_reset
    else:
        tau, rest = m.tau, 0.0
    taus = b.full(tau, shape)
    return {
        "tau": taus * b.dt,
        "r": np.ones(shape) if m.decay_input else taus.copy(),
        "v_leak": b.full(rest, shape),
    }


def _lif_node(b: _Builder, path: str, m: LIF, shape: tuple[int, ...]) -> Any:
    _check_reset(b, path, m)
    v_th, v_reset = b.full(m.v_th, shape), b.full(m.v_reset, shape)
    if m.charge == "if":
        return b.nir.IF(r=np.full(shape, 1.0 / b.dt), v_threshold=v_th, v_reset=v_reset)
    mem = _membrane(b, m, shape)
    return b.nir.LIF(v_threshold=v_th, v_reset=v_reset, **mem)


def _neuron(b: _Builder, path: str, m: SpikingNeuron, inputs: list[str], shape: tuple) -> str:
    if isinstance(m, RLIF):
        return _rlif(b, path, m, inputs, shape)
    if isinstance(m, CuBa):
        _check_reset(b, path, m)
        if m.alpha >= 1.0:
            raise _refuse(path, m, "alpha = 1 is an infinite synaptic time constant")
        mem = _membrane(b, m, shape)
        node = b.nir.CubaLIF(
            tau_syn=np.full(shape, b.dt / (1.0 - m.alpha)),
            tau_mem=mem["tau"],
            r=mem["r"],
            v_leak=mem["v_leak"],
            v_threshold=b.full(m.v_th, shape),
            v_reset=b.full(m.v_reset, shape),
            w_in=np.full(shape, 1.0 / (1.0 - m.alpha)),
        )
        return b.add(path, node, inputs)
    if type(m) in (LIF, IF, PLIF):
        return b.add(path, _lif_node(b, path, m, shape), inputs)
    if isinstance(m, LI):
        if m.tau is None:
            return b.add(path, b.nir.I(r=np.full(shape, 1.0 / b.dt)), inputs)
        return b.add(path, b.nir.LI(**_membrane(b, m, shape)), inputs)
    if isinstance(m, CubaLI):
        mem = _membrane(b, m, shape)
        node = b.nir.CubaLI(
            tau_syn=np.full(shape, b.dt / (1.0 - m.alpha)),
            tau_mem=mem["tau"],
            r=mem["r"],
            v_leak=mem["v_leak"],
            w_in=np.full(shape, 1.0 / (1.0 - m.alpha)),
        )
        return b.add(path, node, inputs)
    kind = type(m).__name__
    if "PSN" in kind or "PSU" in kind or "Para" in kind:
        why = "a parallel neuron reads the whole input sequence at once; NIR neurons are ODEs"
    elif kind == "ALIF":
        why = "its threshold adapts with every spike; NIR has no adaptive-threshold neuron"
    else:
        why = "no NIR neuron has its dynamics"
    raise _refuse(path, m, why)


def _rlif(b: _Builder, path: str, m: RLIF, inputs: list[str], shape: tuple) -> str:
    """The recurrent LIF as a subgraph with the loop ``LIF → Linear(W_rec) → LIF``."""
    n = m.recurrent_weight.shape[0]
    if shape != (n,):
        raise _refuse(
            path,
            m,
            f"NIR's recurrent loop needs [T, B, {n}] input, got [T, B, "
            f"{', '.join(map(str, shape))}]",
        )
    weight = m.recurrent_weight.detach().cpu()
    matrix = weight.numpy().copy() if weight.dim() == 2 else np.diag(weight.numpy())
    nir = b.nir
    sub = {
        "input": nir.Input(input_type={"input": np.array(shape)}),
        "lif": _lif_node(b, path, m, shape),
        "w_rec": nir.Linear(weight=matrix),
        "output": nir.Output(output_type={"output": np.array(shape)}),
    }
    edges = [("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")]
    return b.add(path, nir.NIRGraph(nodes=sub, edges=edges), inputs)


def _fold_norm(b: _Builder, path: str, m: nn.Module, inputs: list[str]) -> None:
    """Fold an (inference-form) BatchNorm/tdBN into the Linear/Conv node before it."""
    if b.foldable is None or inputs != [b.foldable]:
        raise _refuse(
            path,
            m,
            "NIR has no normalisation node; a BatchNorm is exported only "
            "folded into the Linear/Conv directly before it",
        )
    if m.training:
        warnings.warn(
            f"layer {path} ({type(m).__name__}) is in training mode; exported with its "
            "running statistics (the eval-mode behaviour): call model.eval() first",
            stacklevel=4,
        )
    mean = m.running_mean.detach().double().cpu()
    scale = 1.0 / torch.sqrt(m.running_var.detach().double().cpu() + m.eps)
    if isinstance(m, ThresholdDependentBatchNorm):
        scale = scale * m.alpha * m.v_th
    shift = -mean * scale
    if m.affine:
        shift = shift * m.weight.detach().double().cpu() + m.bias.detach().double().cpu()
        scale = scale * m.weight.detach().double().cpu()
    name = b.foldable
    node = b.nodes[name]
    dtype = node.weight.dtype
    weight = torch.from_numpy(node.weight).double()
    weight = weight * scale.view(-1, *([1] * (weight.dim() - 1)))
    bias = getattr(node, "bias", None)
    bias = (torch.from_numpy(bias).double() if bias is not None else 0.0) * scale + shift
    w, c = weight.numpy().astype(dtype), bias.numpy().astype(dtype)
    nir = b.nir
    if isinstance(node, nir.Linear | nir.Affine):
        b.nodes[name] = nir.Affine(weight=w, bias=c)
    else:
        b.nodes[name] = type(node)(
            input_shape=node.input_shape,
            weight=w,
            stride=node.stride,
            padding=node.padding,
            dilation=node.dilation,
            groups=node.groups,
            bias=c,
        )
    b.foldable = name


def _pair(value: Any) -> np.ndarray:
    return np.array(value if isinstance(value, tuple | list) else (value, value))


def _stateless(b: _Builder, path: str, m: nn.Module, inputs: list[str], shape: tuple) -> tuple:
    """One stateless layer: ``(outputs, shape)``; ``shape`` excludes T and B."""
    nir = b.nir
    if isinstance(m, nn.Identity | nn.Dropout):
        return inputs, shape
    if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):  # tdBN is a BatchNorm1d
        _fold_norm(b, path, m, inputs)
        return inputs, shape
    try:
        with torch.no_grad():
            out_shape = tuple(m(torch.zeros(1, *shape, dtype=_dtype(m))).shape[1:])
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0][:160]
        raise ValueError(
            f"layer {path} ({type(m).__name__}) does not take the per-sample "
            f"shape {shape} it gets here (is input_shape right?): {first}"
        ) from None
    if isinstance(m, nn.Linear):
        w = _array(m.weight)
        node = nir.Linear(weight=w) if m.bias is None else nir.Affine(weight=w, bias=_array(m.bias))
        name = b.add(path, node, inputs)
        b.foldable = name
        return [name], out_shape
    if isinstance(m, nn.Conv1d | nn.Conv2d):
        if m.padding_mode != "zeros":
            raise _refuse(path, m, f"padding_mode={m.padding_mode!r}: NIR pads with zeros")
        one = isinstance(m, nn.Conv1d)
        bias = (
            _array(m.bias)
            if m.bias is not None
            else np.zeros(m.out_channels, _array(m.weight).dtype)
        )
        pad = m.padding if isinstance(m.padding, str) else (m.padding[0] if one else m.padding)
        node = (nir.Conv1d if one else nir.Conv2d)(
            input_shape=shape[1] if one else tuple(shape[1:]),
            weight=_array(m.weight),
            stride=m.stride[0] if one else m.stride,
            padding=pad,
            dilation=m.dilation[0] if one else m.dilation,
            groups=m.groups,
            bias=bias,
        )
        name = b.add(path, node, inputs)
        b.foldable = name
        return [name], out_shape
    if isinstance(m, nn.AvgPool2d):
        if m.ceil_mode or (not m.count_include_pad and np.any(_pair(m.padding))):
            raise _refuse(
                path, m, "ceil_mode or count_include_pad=False: NIR's pooling has neither"
            )
        if m.divisor_override not in (None, 1):
            raise _refuse(
                path, m, f"divisor_override={m.divisor_override}: NIR pools by average or sum only"
            )
        kind = nir.SumPool2d if m.divisor_override == 1 else nir.AvgPool2d
        node = kind(
            kernel_size=_pair(m.kernel_size),
            stride=_pair(m.stride or m.kernel_size),
            padding=_pair(m.padding),
        )
        return [b.add(path, node, inputs)], out_shape
    if isinstance(m, nn.AdaptiveAvgPool2d) and out_shape[1:] == (1, 1):
        whole = np.array(shape[1:])
        node = nir.AvgPool2d(kernel_size=whole, stride=whole, padding=np.zeros(2, int))
        return [b.add(path, node, inputs)], out_shape
    if isinstance(m, nn.Flatten):
        rank = len(shape) + 1  # torch sees [N, *shape]
        start, end = m.start_dim % rank, m.end_dim % rank
        if start == 0:
            raise _refuse(path, m, "start_dim=0 flattens the batch into the features")
        nir_end = -1 if end == rank - 1 else end - 1
        node = nir.Flatten(
            input_type={"input": np.array(shape)}, start_dim=start - 1, end_dim=nir_end
        )
        return [b.add(path, node, inputs)], out_shape
    why = (
        "max-pooling has no NIR node"
        if isinstance(m, nn.MaxPool1d | nn.MaxPool2d)
        else "no NIR node represents it"
    )
    raise _refuse(path, m, why)


def _dtype(m: nn.Module) -> torch.dtype:
    first = next(iter(m.parameters()), None)
    return first.dtype if first is not None else torch.get_default_dtype()


def _walk(b: _Builder, m: nn.Module, path: str, inputs: list[str], shape: tuple) -> tuple:
    """Emit ``m``'s nodes fed by ``inputs`` (their sum); returns ``(outputs, shape)``."""
    sub = lambda name: f"{path}.{name}" if path else name  # noqa: E731
    if isinstance(m, SpikingNeuron):
        return [_neuron(b, path, m, inputs, shape)], shape
    if isinstance(m, TimeFold):
        return _walk(b, m.layer, path, inputs, shape)
    if isinstance(m, nn.Sequential):
        for name, child in m.named_children():
            inputs, shape = _walk(b, child, sub(name), inputs, shape)
        return inputs, shape
    if isinstance(m, NIRGraphModule):
        values: dict[str, tuple] = {m.input_name: (inputs, shape)}
        for name in [*m.order, m.output_name]:
            srcs = [values[s] for s in m.sources[name]]
            ins, in_shape = [n for src, _ in srcs for n in src], srcs[0][1]
            if name != m.output_name:
                values[name] = _walk(b, m.nodes[name], sub(name), ins, in_shape)
        return ins, in_shape
    if isinstance(m, SEWBlock | BasicBlock):
        return _block(b, m, sub, inputs, shape)
    if isinstance(m, SpikingMLP):
        if len(shape) != 1:
            flat = b.nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
            inputs, shape = [b.add(sub("flatten"), flat, inputs)], (math.prod(shape),)
        inputs, shape = _walk(b, m.features, sub("features"), inputs, shape)
        return _readout(b, m, sub, *_walk(b, m.fc, sub("fc"), inputs, shape))
    if isinstance(m, SpikingResNet):
        for name in (
            "stem",
            "layer1",
            "layer2",
            "layer3",
            "layer4",
            "final_neuron",
            "global_pool",
            "drop",
            "fc",
        ):
            inputs, shape = _walk(b, getattr(m, name), sub(name), inputs, shape)
        return _readout(b, m, sub, inputs, shape)
    return _stateless(b, path, m, inputs, shape)


def _readout(b: _Builder, m: nn.Module, sub: Any, inputs: list[str], shape: tuple) -> tuple:
    """``readout="spiking"`` on a non-Sequential model: its hooked ``readout_neuron``."""
    neuron = getattr(m, "readout_neuron", None)
    return (
        (inputs, shape)
        if neuron is None
        else _walk(b, neuron, sub("readout_neuron"), inputs, shape)
    )


def _block(b: _Builder, m: SEWBlock | BasicBlock, sub: Any, inputs: list[str], shape: tuple):
    """A residual block: the join is the sum of two edges into the next node."""
    if isinstance(m, SEWBlock) and m.connect != "add":
        raise _refuse(
            sub("")[:-1],
            m,
            f"connect={m.connect!r} multiplies two spike "
            "signals; only ADD (a sum of edges) exists in NIR",
        )
    res, res_shape = inputs, shape
    for name in ("conv1", "sn1", "conv2") + (("sn2",) if isinstance(m, SEWBlock) else ()):
        res, res_shape = _walk(b, getattr(m, name), sub(name), res, res_shape)
    short, short_shape = inputs, shape
    if m.downsample is not None:
        short, short_shape = _walk(b, m.downsample, sub("downsample"), inputs, shape)
    if res_shape != short_shape:
        raise _refuse(sub("")[:-1], m, f"residual {res_shape} and shortcut {short_shape} differ")
    if isinstance(m, SEWBlock):
        return res + short, res_shape
    return _walk(b, m.sn2, sub("sn2"), res + short, res_shape)


def to_nir(
    model: nn.Module,
    input_shape: tuple[int, ...] | list[int],
    dt: float = 1.0,
    approximate: bool = False,
) -> Any:
    """Export ``model`` to a ``nir.NIRGraph`` (see the module docstring for the mapping).

    Args:
        model: a spikeforge model over ``[T, B, ...]`` (the zoo's ``spiking_mlp``,
            ``csnn_tiny``, Spiking/SEW-ADD ResNets, an ``nn.Sequential`` of ``fold(...)``
            layers and neurons, or a module :func:`~spikeforge.export.from_nir` built).
        input_shape: one sample's shape at one step, without T and B (``(1, 8, 8)`` for
            ``[T, B, 1, 8, 8]`` input).
        dt: the Euler step in seconds that a NIR reader will simulate with (``τ_N =
            τ·dt``); snnTorch and SpikingJelly read with ``1e-4``, Norse with ``1e-3``.
        approximate: export a subtract-reset neuron as a hard reset (with a warning)
            instead of refusing it.

    Returns:
        The graph, nodes named after the module paths, ``metadata["dt"] = dt``.

    Raises:
        NIRExportError: a layer NIR cannot represent (named, with the reason).
    """
    nir = require_nir()
    dt = check_dt(dt)
    shape = tuple(int(s) for s in input_shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"input_shape must be one sample's positive sizes, got {input_shape!r}")
    b = _Builder(nir, dt, approximate)
    b.nodes["input"] = nir.Input(input_type={"input": np.array(shape)})
    outputs, out_shape = _walk(b, model, "", ["input"], shape)
    b.nodes["output"] = nir.Output(output_type={"output": np.array(out_shape)})
    b.edges += [(src, "output") for src in outputs]
    metadata = {"dt": dt, "source": "spikeforge", "firing": "v >= v_threshold (NIR: >)"}
    return nir.NIRGraph(nodes=b.nodes, edges=b.edges, metadata=metadata)
