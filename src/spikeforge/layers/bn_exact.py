r"""Batch norm's training output reproduced bit for bit without keeping it (issue #22,
item 2), for :func:`~spikeforge.layers.memory.compact_activations`.

Two ways, both checked against batch norm's own forward once per module and layout:

- **In the neuron kernel** (:func:`neuron_affine`): ATen's CPU batch norm computes its
  training output as ``y = fma(c, α, β)`` per channel, with ``α = invstd · w`` and
  ``β = fma(-mean, α, b)`` from the batch mean and ``1/std`` it saves. A fused LIF neuron
  whose input is ``y`` then saves batch norm's input ``c`` (kept by batch norm anyway) and
  ``α, β`` ``[C]``, and its backward kernel rebuilds ``y`` block by block in cache
  (:class:`~spikeforge.kernels.cpu.lif.BNAffine`): ``y`` is neither kept nor written
  again, the design the issue asks for ("the neuron kernel takes BN's affine").
- **Through eval mode** (:func:`matching_scale`), for every other consumer of a saved
  batch-norm output: eval-mode batch norm runs the same affine code from running
  statistics, so with the batch mean and a variance whose scale rounds exactly to the
  training one it recomputes ``y`` in one pass.

Whether ATen fuses the multiply-add depends on how torch was compiled, so neither way is
assumed: where the check fails the caller falls back (to the eval-mode pass, then to
batch norm's forward on copies of its buffers).
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..kernels.cpu import lif as lif_kernel
from ..kernels.cpu._build import unavailable_reason

# module -> {(shape, strides, dtype): whether the kernel's affine equals the module's
# training output bit for bit}; checked on the first use per key
_AFFINE_VERIFIED: weakref.WeakKeyDictionary[nn.Module, dict[tuple[Any, ...], bool]]
_AFFINE_VERIFIED = weakref.WeakKeyDictionary()


def batch_statistics(output: torch.Tensor, module: _BatchNorm) -> tuple[Any, ...] | None:
    """``(mean, invstd, eps)`` ``[C]`` of a stock CPU batch norm's training forward that
    used batch statistics, read from ``output``'s autograd node; ``None`` otherwise (a
    subclass with its own forward, eval mode, freed by an earlier backward)."""
    node = output.grad_fn
    if (
        type(module).forward is not _BatchNorm.forward
        or output.device.type != "cpu"
        or node is None
        or node.name() != "NativeBatchNormBackward0"
    ):
        return None
    try:
        if not node._saved_training:
            return None
        return node._saved_result1, node._saved_result2, node._saved_eps
    except Exception:  # freed: the caller keeps the tensor or uses the forward
        return None


def neuron_affine(
    module: _BatchNorm, output: torch.Tensor, inp: torch.Tensor, x: torch.Tensor
) -> lif_kernel.BNAffine | None:
    """How a fused neuron whose input ``x`` is (a contiguous view of all of) batch norm's
    training ``output`` ``[N, C, ...]`` can rebuild it from batch norm's input ``inp``
    (same shape, contiguous); ``None`` where it cannot, or where the kernel's arithmetic
    was found to differ from ``module``'s in a single bit (checked on the first call per
    module and layout, against ``output`` itself)."""
    if unavailable_reason() is not None or x.dtype not in (torch.float32, torch.float64):
        return None
    if not (
        x.is_contiguous()
        and output.is_contiguous()
        and inp.is_contiguous()
        and x.storage_offset() == 0
        and output.storage_offset() == 0
        and x.numel() == output.numel()
        and inp.shape == output.shape
        and inp.dtype == output.dtype == x.dtype
        and output.dim() >= 2
    ):
        return None
    stats = batch_statistics(output, module)
    if stats is None:
        return None
    mean, invstd, _ = stats
    weight = None if module.weight is None else module.weight.detach()
    bias = None if module.bias is None else module.bias.detach()
    if any(t is not None and t.dtype != x.dtype for t in (mean, invstd, weight, bias)):
        return None
    alpha, beta = lif_kernel.bn_coefficients(mean, invstd, weight, bias)
    channels = output.shape[1]
    inner = output[0, 0].numel()
    source = lif_kernel.BNAffine(inp.detach(), alpha, beta, channels, inner)
    key = (tuple(output.shape), output.dtype)
    verdicts = _AFFINE_VERIFIED.setdefault(module, {})
    if key not in verdicts:
        verdicts[key] = torch.equal(lif_kernel.bn_affine(source), output.detach().reshape(-1))
    return source if verdicts[key] else None


def _neighbours(t: torch.Tensor, ulps: int) -> list[torch.Tensor]:
    """``t`` and the floats up to ``ulps`` steps above and below it, nearest first."""
    out, up, down = [t], t, t
    for _ in range(ulps):
        up = torch.nextafter(up, torch.full_like(up, float("inf")))
        down = torch.nextafter(down, torch.full_like(down, -float("inf")))
        out += [up, down]
    return out


def matching_scale(
    invstd: torch.Tensor, eps: float, weight: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(var', w', found)`` ``[C]`` each: where ``found``, eval-mode batch norm's scale
    ``α = w' / sqrt(var' + eps)`` is bit for bit the training scale ``invstd · w`` (about
    one channel in 10,000 has no such pair among the candidates).

    Both modes compute ``α = invstd · w``, then ``β = b - mean · α`` and ``x · α + β``
    with the same code (ATen's CPU batch norm), so equal ``α`` and mean give equal
    outputs. Not every float is some ``1/sqrt(var' + eps)`` (the square root's rounding
    skips some), so the weight may move by an ulp or two as well. Candidates: ``var' =
    s - eps`` for the float ``s`` nearest ``1/invstd²`` and its neighbours up to 8 ulps
    away, times ``w`` and its neighbours up to 4 ulps away; batch norm itself says which
    pair hits (an input of ones with mean 0 and no bias comes out as exactly ``α``)."""
    c = invstd.numel()
    w = torch.ones_like(invstd) if weight is None else weight.detach()
    target = invstd if weight is None else invstd * w
    # search over var' + eps (what the square root sees), then take var' = that - eps:
    # where var' << eps, neighbouring var' values all round to the same sum
    eps_t = torch.tensor(eps, dtype=invstd.dtype).double()  # eps as batch norm rounds it
    sums = _neighbours((1.0 / invstd.double().square()).to(invstd.dtype), 8)
    var_c = torch.stack([(t.double() - eps_t).to(invstd.dtype) for t in sums]).clamp_min(0.0)
    w_c = torch.stack(_neighbours(w, 4))  # [J, C]
    k, j = var_c.shape[0], w_c.shape[0]
    var_all = var_c.unsqueeze(1).expand(k, j, c).reshape(-1)
    w_all = w_c.unsqueeze(0).expand(k, j, c).reshape(-1)
    probe = torch.nn.functional.batch_norm(
        torch.ones(1, var_all.numel(), dtype=invstd.dtype), torch.zeros_like(var_all),
        var_all, w_all, None, False, 0.0, eps,
    ).reshape(k * j, c)  # fmt: skip
    hit = probe == target.reshape(1, c)
    first = hit.to(torch.uint8).argmax(0).reshape(1, c)  # the first pair that hits
    pick = [t.reshape(k * j, c).gather(0, first).reshape(c) for t in (var_all, w_all)]
    return pick[0], pick[1], hit.any(0)
