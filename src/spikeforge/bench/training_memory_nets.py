"""The networks ``spikeforge bench training_memory`` trains one step of, built alike in
spikeforge, SpikingJelly, snnTorch and as a ReLU network.

Every subject maps a time-major image batch ``x [T, B, 3, H, W]`` to per-step class
scores ``[T, B, 10]`` (the benchmark's loss is cross-entropy of their mean over T).

Nets (``NETS``):

- ``two_conv``: conv3→64 (3×3, pad 1, no bias) + BN + LIF, conv64→128 (3×3, stride 2,
  pad 1, no bias) + BN + LIF, 2×2 average pool, flatten, linear →10 (H, W divisible by 4).
- ``sew_resnet18``: SEW-ResNet-18 with ADD joins and the CIFAR stem (3×3 conv, stride 1,
  no max-pool), base width 64.

Implementations (``IMPLS``), all with the same LIF (τ = 2, V_th = 1, hard reset to 0,
decay-input charge ``H[t] = V[t-1] + (X[t] - V[t-1])/τ``, arctan surrogate α = 2):

- ``spikeforge``: :func:`~spikeforge.layers.fold` + :class:`~spikeforge.neurons.LIF`
  (backend ``auto``: the fused CPU kernel), as the zoo's ``csnn_tiny`` builds its stages;
  the SEW-ResNet is the zoo's ``sew_resnet18``. Each is trained under a ``train.memory``
  mode (``MEMORY_MODES``, :func:`memory_context`) applied as the trainer applies it,
  :func:`spikeforge.layers.recompute.memory_mode` around the forward: ``full`` (plain
  autograd), ``compact`` (spikes saved as bits, batch-norm outputs not kept) or
  ``checkpoint`` (compact, and each block recomputed in backward from its input).
- ``spikingjelly``: SpikingJelly 2.0 ``activation_based`` layers in multi-step mode
  (``step_mode="m"``: conv / BN / pool / linear on ``[T·B, ...]``, BN statistics over T·B
  as ours), ``neuron.LIFNode(tau=2, decay_input=True, v_threshold=1, v_reset=0,
  surrogate_function=ATan(alpha=2), detach_reset=False)`` on its default path (2.0's
  ``LIFNode`` takes no ``backend`` argument: on the CPU it runs its torch code);
  ``functional.reset_net`` before each forward. Its SEW-ResNet-18 is
  ``model.sew_resnet18(cnf="ADD")`` with the ImageNet stem (7×7/2 conv + max-pool)
  replaced by the same CIFAR stem as ours, so both have the same shapes.
- ``snntorch``: ``snntorch.Leaky`` in a Python loop over T, as snnTorch's tutorials
  write it (conv / BN / pool / linear applied per step, so its BN statistics are over B
  per step). snnTorch charges ``U[t] = βU[t-1] + X[t]`` (no input decay); with
  ``β = 1 - 1/τ``, ``threshold = τ·V_th`` and ``atan(alpha=α/τ)`` its membrane is
  exactly ``τ·H``, so its spikes and its surrogate gradient with respect to the input
  current equal the decay-input LIF's (the derivative ``α'/2/(1+(πα'(U-τ)/2)²)`` with
  ``U = τH``, ``α' = α/τ`` is ``1/τ`` of ours per unit of ``H``, and ``∂H/∂X = 1/τ``).
  One difference no setting removes: snnTorch always detaches its reset (ours and
  SpikingJelly's here do not); and it fires at ``U > θ`` where we fire at ``≥``.
  SEW-ResNet-18 has no snnTorch row (snnTorch has no such model).
- ``relu``: the same layers with ``nn.ReLU`` in place of each LIF and no time axis: the
  network runs once on the ``T·B`` images ``x.flatten(0, 1)`` (what an ANN of the same
  shape keeps for a batch of T·B images), its scores reshaped to ``[T, B, 10]``. For
  ``sew_resnet18`` it is the zoo's ``spiking_resnet18`` skeleton with ReLU (activation
  after the add): the standard CIFAR ResNet-18 basic block, since a ReLU has no use for
  SEW's spike-preserving join.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..layers import fold
from ..models import create
from ..neurons import LIF

NETS = ("two_conv", "sew_resnet18")
IMPLS = ("spikeforge", "spikingjelly", "snntorch", "relu")
MEMORY_MODES = ("full", "compact", "checkpoint")
NUM_CLASSES = 10
IN_CHANNELS = 3
TAU = 2.0
V_TH = 1.0
ALPHA = 2.0  # arctan surrogate sharpness (snnTorch's and SpikingJelly's default)
LIF_OPTIONS: dict[str, Any] = {
    "tau": TAU,
    "v_th": V_TH,
    "v_reset": 0.0,
    "reset": "zero",
    "decay_input": True,
    "detach_reset": False,
    "surrogate": {"name": "atan", "alpha": ALPHA},
}

ContextFactory = Callable[[], AbstractContextManager[Any]]


class UnavailableError(RuntimeError):
    """A row cannot run here (a peer library or a memory mode is missing); its message
    says what is missing."""


@dataclass
class Subject:
    """One benchmarked network: ``model`` (its parameters) and ``forward(x, inner)``
    ``[T, B, 3, H, W] -> [T, B, 10]``; ``inner`` is entered innermost around the forward
    (the benchmark's saved-tensor counter, so it sees what a memory mode's hooks pack)."""

    model: nn.Module
    forward: Callable[[torch.Tensor, ContextFactory], torch.Tensor]
    library: str = ""  # the peer's name and version, for the result's metadata
    #: drops what the model keeps between calls (peers keep the last membrane, and with it
    #: the whole autograd graph, in the module until their next reset)
    release: Callable[[], None] = lambda: None


def _import(name: str) -> Any:
    """``importlib.import_module(name)``, any failure turned into :class:`UnavailableError`."""
    try:
        return importlib.import_module(name)
    except Exception as exc:  # a missing package, or one broken against this torch
        raise UnavailableError(f"{name} cannot be imported ({type(exc).__name__}: {exc})") from exc


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:
        return package


def _two_conv_size_check(size: int) -> None:
    if not isinstance(size, int) or size < 4 or size % 4:
        raise ValueError(f"two_conv needs an input side divisible by 4 (>= 4), got {size!r}")


def _features(size: int) -> int:
    return 128 * (size // 4) ** 2  # stride-2 conv, then a 2×2 pool


# ----------------------------------------------------------------------------- spikeforge


def spikeforge_two_conv(size: int) -> nn.Sequential:
    """The two-conv net from spikeforge layers: ``[T, B, 3, size, size] -> [T, B, 10]``."""
    _two_conv_size_check(size)
    return nn.Sequential(
        fold(nn.Conv2d(IN_CHANNELS, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64)),
        LIF(**LIF_OPTIONS),
        fold(nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(128)),
        LIF(**LIF_OPTIONS),
        fold(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(_features(size), NUM_CLASSES)),
    )


def spikeforge_sew_resnet18(size: int) -> nn.Module:
    """The zoo's ``sew_resnet18`` (ADD, CIFAR stem, width 64) with the shared LIF options."""
    options = {k: v for k, v in LIF_OPTIONS.items() if k != "surrogate"}
    return create(
        "sew_resnet18",
        num_classes=NUM_CLASSES,
        in_channels=IN_CHANNELS,
        input_size=size,
        stem="cifar",
        neuron="lif",
        neuron_kwargs=options,
        surrogate=LIF_OPTIONS["surrogate"],
    )


def memory_context(model: nn.Module, mode: str) -> ContextFactory:
    """What ``train.memory=mode`` puts around the forward of ``model``, as the trainer
    does (:func:`spikeforge.layers.recompute.memory_mode`): a factory of the context to
    enter for each forward; ``full`` is plain autograd. Raises :class:`UnavailableError`
    when the module that implements the modes is missing."""
    if mode not in MEMORY_MODES:
        raise ValueError(f"memory mode must be one of {', '.join(MEMORY_MODES)}, got {mode!r}")
    if mode == "full":
        return nullcontext
    entry = getattr(_import("spikeforge.layers.recompute"), "memory_mode", None)
    if entry is None:
        raise UnavailableError("spikeforge.layers.recompute has no memory_mode")
    return lambda: entry(model, mode)


def _spikeforge(net: str, size: int, mode: str) -> Subject:
    model = spikeforge_two_conv(size) if net == "two_conv" else spikeforge_sew_resnet18(size)
    outer = memory_context(model, mode)

    def forward(x: torch.Tensor, inner: ContextFactory) -> torch.Tensor:
        with outer(), inner():
            return model(x)

    return Subject(model, forward, _version("spikeforge"))


# --------------------------------------------------------------------------- SpikingJelly


def _sj_lif(surrogate: Any) -> dict[str, Any]:
    """``LIFNode`` options equal to :data:`LIF_OPTIONS` (SpikingJelly's parameter names)."""
    return {
        "tau": TAU,
        "decay_input": True,
        "v_threshold": V_TH,
        "v_reset": 0.0,
        "surrogate_function": surrogate.ATan(alpha=ALPHA),
        "detach_reset": False,
    }


SJ_SEW = "spikingjelly.activation_based.model.sew_resnet"
SHIM = "torchvision._internally_replaced_utils"


def _spikingjelly_sew_module() -> Any:
    """SpikingJelly's ``model.sew_resnet``. It imports torchvision for one name only,
    ``load_state_dict_from_url`` (pretrained ImageNet weights, never used here). Where
    torchvision cannot be imported (not installed, or built for another torch) the module
    is imported with a stand-in ``torchvision`` whose only content is torch's own
    ``torch.hub.load_state_dict_from_url``; the stand-in is removed from ``sys.modules``
    right after, so nothing else sees it. SpikingJelly's model code runs unchanged."""
    try:
        return importlib.import_module(SJ_SEW)
    except Exception as exc:
        if "torchvision" not in f"{exc}":
            raise UnavailableError(
                f"{SJ_SEW} cannot be imported ({type(exc).__name__}: {exc})"
            ) from exc
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # a half-imported, broken torchvision
    package, utils = types.ModuleType("torchvision"), types.ModuleType(SHIM)
    utils.load_state_dict_from_url = torch.hub.load_state_dict_from_url  # type: ignore[attr-defined]
    package.__path__ = []  # a package, so `torchvision.models.utils` fails as ImportError
    sys.modules.update({"torchvision": package, SHIM: utils})
    try:
        return _import(SJ_SEW)
    finally:
        for name in ("torchvision", SHIM):
            sys.modules.pop(name, None)


def _spikingjelly(net: str, size: int) -> Subject:
    layer, neuron, surrogate, functional = (
        _import(f"spikingjelly.activation_based.{m}")
        for m in ("layer", "neuron", "surrogate", "functional")
    )
    lif = _sj_lif(surrogate)
    if net == "two_conv":
        _two_conv_size_check(size)
        model: nn.Module = nn.Sequential(
            layer.Conv2d(IN_CHANNELS, 64, 3, padding=1, bias=False),
            layer.BatchNorm2d(64),
            neuron.LIFNode(**lif),
            layer.Conv2d(64, 128, 3, stride=2, padding=1, bias=False),
            layer.BatchNorm2d(128),
            neuron.LIFNode(**lif),
            layer.AvgPool2d(2),
            layer.Flatten(),
            layer.Linear(_features(size), NUM_CLASSES),
        )
    else:
        sew = _spikingjelly_sew_module()
        model = sew.sew_resnet18(
            cnf="ADD", spiking_neuron=neuron.LIFNode, num_classes=NUM_CLASSES, **lif
        )
        # CIFAR stem in place of the ImageNet one, so the shapes match ours (see above).
        model.conv1 = layer.Conv2d(IN_CHANNELS, 64, 3, padding=1, bias=False)
        model.maxpool = nn.Identity()
    functional.set_step_mode(model, "m")

    def forward(x: torch.Tensor, inner: ContextFactory) -> torch.Tensor:
        functional.reset_net(model)  # SpikingJelly keeps membranes between calls
        with inner():
            return model(x)

    return Subject(
        model, forward, _version("spikingjelly"), release=lambda: functional.reset_net(model)
    )


# ------------------------------------------------------------------------------ snnTorch


class SnnTorchTwoConv(nn.Module):
    """The two-conv net with ``snntorch.Leaky`` stepped in a Python loop over T
    (``[T, B, 3, H, W] -> [T, B, 10]``), parametrised to equal our LIF (module docstring)."""

    def __init__(self, snntorch: Any, surrogate: Any, size: int) -> None:
        super().__init__()
        _two_conv_size_check(size)
        options = {
            "beta": 1.0 - 1.0 / TAU,
            "threshold": TAU * V_TH,  # membrane U = τ·H (no input decay in snnTorch)
            "spike_grad": surrogate.atan(alpha=ALPHA / TAU),
            "reset_mechanism": "zero",
        }
        self.conv1 = nn.Conv2d(IN_CHANNELS, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.lif1 = snntorch.Leaky(**options)
        self.conv2 = nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(128)
        self.lif2 = snntorch.Leaky(**options)
        self.head = nn.Sequential(
            nn.AvgPool2d(2), nn.Flatten(), nn.Linear(_features(size), NUM_CLASSES)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mem1 = mem2 = None
        out = []
        for x_t in x.unbind(0):
            cur1 = self.bn1(self.conv1(x_t))
            mem1 = torch.zeros_like(cur1) if mem1 is None else mem1  # every call from rest
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.bn2(self.conv2(spk1))
            mem2 = torch.zeros_like(cur2) if mem2 is None else mem2
            spk2, mem2 = self.lif2(cur2, mem2)
            out.append(self.head(spk2))
        return torch.stack(out)


def _snntorch(net: str, size: int) -> Subject:
    if net != "two_conv":
        raise UnavailableError(f"no snnTorch {net} (snnTorch has no such model)")
    snntorch = _import("snntorch")
    model = SnnTorchTwoConv(snntorch, _import("snntorch.surrogate"), size)

    def forward(x: torch.Tensor, inner: ContextFactory) -> torch.Tensor:
        with inner():
            return model(x)

    def release() -> None:
        for lif in (model.lif1, model.lif2):
            lif.mem = torch.zeros(0)  # its last membrane holds the graph

    return Subject(model, forward, _version("snntorch"), release=release)


# ---------------------------------------------------------------------------------- ReLU


def relu_two_conv(size: int) -> nn.Sequential:
    """The two-conv net with ReLU, on a batch of images ``[N, 3, size, size] -> [N, 10]``."""
    _two_conv_size_check(size)
    return nn.Sequential(
        nn.Conv2d(IN_CHANNELS, 64, 3, padding=1, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(128),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(_features(size), NUM_CLASSES),
    )


def _relu_neuron(**_: Any) -> nn.Module:
    """A "neuron" factory for the zoo's ResNet skeleton that builds a ReLU (the spiking
    options the skeleton passes every neuron mean nothing to it)."""
    return nn.ReLU()


def relu_resnet18(size: int) -> nn.Module:
    """ReLU ResNet-18, CIFAR stem, width 64: ``[1, N, 3, size, size] -> [1, N, 10]``."""
    return create(
        "spiking_resnet18",
        num_classes=NUM_CLASSES,
        in_channels=IN_CHANNELS,
        input_size=size,
        stem="cifar",
        neuron=_relu_neuron,
    )


def _relu(net: str, size: int) -> Subject:
    if net == "two_conv":
        model: nn.Module = relu_two_conv(size)

        def run(images: torch.Tensor) -> torch.Tensor:
            return model(images)
    else:
        model = relu_resnet18(size)

        def run(images: torch.Tensor) -> torch.Tensor:
            return model(images.unsqueeze(0)).squeeze(0)  # the skeleton wants [T=1, N, ...]

    def forward(x: torch.Tensor, inner: ContextFactory) -> torch.Tensor:
        steps, batch = x.shape[:2]
        with inner():
            return run(x.flatten(0, 1)).unflatten(0, (steps, batch))

    return Subject(model, forward, "torch")


# -------------------------------------------------------------------------------- build


def build(net: str, impl: str, size: int, memory: str | None = None) -> Subject:
    """The subject of one row. ``memory`` is the ``train.memory`` mode of a spikeforge row
    (``None`` for the others). Raises :class:`UnavailableError` when a row cannot run here."""
    if net not in NETS:
        raise ValueError(f"net must be one of {', '.join(NETS)}, got {net!r}")
    if impl not in IMPLS:
        raise ValueError(f"implementation must be one of {', '.join(IMPLS)}, got {impl!r}")
    if impl == "spikeforge":
        return _spikeforge(net, size, memory or "full")
    if memory is not None:
        raise ValueError(f"a memory mode applies to spikeforge rows only, got {impl}/{memory}")
    return {"spikingjelly": _spikingjelly, "snntorch": _snntorch, "relu": _relu}[impl](net, size)
