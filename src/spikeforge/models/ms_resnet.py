r"""MS-ResNet-18/34: membrane-shortcut ResNet (Hu et al., "Advancing Spiking Neural
Networks Toward Deep Residual Learning", IEEE TNNLS 2024; arXiv:2112.08954).

The shortcut carries real-valued membrane-like signals and each residual path *starts*
with a spiking neuron: ``X_{l+1} = X_l + BN(Conv(SN(BN(Conv(SN(X_l))))))``. Every
convolution in the residual path therefore sees spikes, while the identity path is
never thresholded, so it is an exact identity map through any depth. When the shape
changes the shortcut is ``BN(Conv1×1(X_l))`` on the real-valued input (as in the
authors' code). The stem is Conv-BN without an SN (the first block's SN spikes it) and
one extra SN after ``layer4`` turns the real-valued stream into spikes for the
classifier.

Two variants (``variant=``), with the same parameters and state-dict keys on the CIFAR
stem:

- ``"zoo"`` (default): the zoo's ResNet skeleton — ImageNet stem with a 3×3/2 max-pool
  and a stride-1 ``layer1``, default initialisation. Kept as the default so existing
  configs and checkpoints keep their meaning, and because it satisfies the zoo contract
  every registered model is tested against (every parameter gets a gradient at the
  first step), which a zero-initialised residual BN breaks by design.
- ``"official"``: as ``Ariande1/MS-ResNet: models/MS_ResNet.py`` builds it (METHODS §15)
  — ImageNet stem ``Conv7×7/2 -> BN`` with **no max-pool** and ``layer1`` stride 2
  (hence a 1×1/2 projection in ``layer1[0]``; stage shapes are unchanged), every BN
  weight initialised to the neurons' ``V_th`` (0.5 with the authors' neuron), and
  **the last BN of every residual path initialised to 0**, so every block starts as its
  shortcut (identity blocks as the identity). The CIFAR stem is the zoo's (§15 gives
  only the ImageNet one). The neuron stays injected like every zoo model's; the
  authors' neuron is ``neuron_kwargs=OFFICIAL_NEURON`` (``u[t] = 0.25·u[t−1]·(1 −
  s[t−1]) + x[t]``, ``s = 1[u ≥ 0.5]``, detached reset, rectangle surrogate). With
  ``norm="tdbn"`` the tdBN weights keep 1 (their scale is ``α·V_th`` already); the
  zero-initialisation applies all the same.

Shapes: ``[T, B, C, H, W]`` -> ``forward_features`` spikes ``[T, B, 8·base_width, H', W']``
-> ``[T, B, num_classes]``. Stage outputs (``base_width = w``, ImageNet stem, 224²
input): stem ``[T, B, w, 112, 112]`` (official; zoo: 56² after its max-pool), then
``w·(1, 2, 4, 8)`` channels at 56², 28², 14², 7² in both variants.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .._validation import check_choice
from .registry import MODELS
from .resnet import BlockConfig, SpikingResNet

VARIANTS = ("zoo", "official")

#: The authors' neuron as LIF options: ``1 - 1/τ = 0.25`` without input decay, hard
#: reset to 0 with the spike detached, ``V_th = 0.5``, rectangle surrogate of width 1
#: (``dS/du = 1[|u - 0.5| < 0.5]``). Fires at ``u ≥ 0.5`` (the library convention; the
#: authors' ``u > 0.5`` differs only at exact equality).
OFFICIAL_NEURON: Mapping[str, Any] = MappingProxyType(
    {
        "tau": 4.0 / 3.0,
        "decay_input": False,
        "v_th": 0.5,
        "detach_reset": True,
        "surrogate": "rectangle",
    }
)


def last_norm(module: nn.Module) -> _BatchNorm:
    """The last batch norm inside ``module`` (the norm of a ``conv_norm`` layer)."""
    norms = [m for m in module.modules() if isinstance(m, _BatchNorm)]
    if not norms:
        raise ValueError(f"{type(module).__name__} holds no batch norm")
    return norms[-1]


class MSBlock(nn.Module):
    """Membrane-shortcut block: real ``[T, B, C_in, H, W]`` -> real
    ``[T, B, C_out, H/stride, W/stride]``; spikes only inside the residual path.

    Args:
        in_channels, out_channels, stride: as a ResNet basic block.
        cfg: neuron factory and norm.
        zero_init_residual: initialise the residual path's last BN weight to 0, so the
            block starts as its shortcut (the authors' code).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        cfg: BlockConfig,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        self.sn1 = cfg.make_neuron()
        self.conv1 = cfg.conv_norm(in_channels, out_channels, 3, stride)
        self.sn2 = cfg.make_neuron()
        self.conv2 = cfg.conv_norm(out_channels, out_channels, 3)
        self.downsample = cfg.downsample(in_channels, out_channels, stride)
        if zero_init_residual:
            self.zero_init_residual_()

    @torch.no_grad()
    def zero_init_residual_(self) -> None:
        """Set the residual path's last BN weight to 0: ``block(x) == shortcut(x)``."""
        nn.init.zeros_(last_norm(self.conv2).weight)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """``BN(Conv(SN(BN(Conv(SN(x))))))``."""
        return self.conv2(self.sn2(self.conv1(self.sn1(x))))

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (identity) or ``BN(Conv1×1(x))`` on the real-valued input."""
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.residual(x)


@torch.no_grad()
def _init_official(model: SpikingResNet, v_th: float) -> None:
    # BN weights at V_th (the authors' tdBN), then each residual path's last BN at 0.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            nn.init.constant_(module.weight, v_th)
    for module in model.modules():
        if isinstance(module, MSBlock):
            module.zero_init_residual_()


def _ms(layers: tuple[int, ...], variant: str, kwargs: dict[str, Any]) -> SpikingResNet:
    check_choice(variant, "variant", VARIANTS)
    for fixed in ("spiking_stem", "final_neuron"):
        if fixed in kwargs:
            raise TypeError(f"MS-ResNet fixes {fixed!r} (its membrane shortcut needs it)")
    if variant == "official":
        if kwargs.get("stem_pool", False):
            raise TypeError("MS-ResNet variant='official' has no stem max-pool (stem_pool)")
        kwargs["stem_pool"] = False
    model = SpikingResNet(MSBlock, layers, spiking_stem=False, final_neuron=True, **kwargs)
    if variant == "official":
        neuron_kwargs = kwargs.get("neuron_kwargs") or {}
        _init_official(model, float(neuron_kwargs.get("v_th", 1.0)))
    return model


@MODELS.register("ms_resnet18")
def ms_resnet18(variant: str = "zoo", **kwargs: Any) -> SpikingResNet:
    """MS-ResNet-18 (2-2-2-2); ``variant`` ``"zoo"`` or ``"official"`` (module
    docstring), other options as :class:`~spikeforge.models.resnet.SpikingResNet`."""
    return _ms((2, 2, 2, 2), variant, kwargs)


@MODELS.register("ms_resnet34")
def ms_resnet34(variant: str = "zoo", **kwargs: Any) -> SpikingResNet:
    """MS-ResNet-34 (3-4-6-3); options as :func:`ms_resnet18`."""
    return _ms((3, 4, 6, 3), variant, kwargs)
