r"""Structural similarity (Wang et al., 2004) of 2-D maps, e.g. firing-rate maps.

With local window statistics ``μ_x, μ_y, σ_x², σ_y², σ_xy`` (weighted by a normalised
Gaussian or uniform window ``w``),

    ``SSIM(x, y) = mean_window[ (2 μ_x μ_y + C1)(2 σ_xy + C2) /
                                ((μ_x² + μ_y² + C1)(σ_x² + σ_y² + C2)) ]``,

``C1 = (k1 L)²``, ``C2 = (k2 L)²`` with ``L`` the data range. ``SSIM(x, x) = 1``; it is
symmetric and ≤ 1. Windows are "valid" (no padding); a window larger than the map is
clipped to the map size, so small rate maps (e.g. 4×4) still work.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

WINDOWS = ("gaussian", "uniform")


def _window(size: int, kind: str, sigma: float, dtype: torch.dtype) -> torch.Tensor:
    """1-D normalised window of ``size`` taps."""
    if kind == "uniform":
        return torch.full((size,), 1.0 / size, dtype=dtype)
    coords = torch.arange(size, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    window: str = "gaussian",
    window_size: int = 7,
    sigma: float = 1.5,
    data_range: float = 1.0,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """Mean SSIM of ``x`` and ``y``.

    Args:
        x: a map ``[H, W]`` or a batch ``[N, H, W]`` / ``[N, C, H, W]``.
        y: the map or batch to compare with, of the same shape as ``x``.
        window: ``"gaussian"`` (σ = ``sigma``) or ``"uniform"``.
        window_size: window side (clipped to the map size).
        data_range: ``L``, the value range (1 for firing rates).
        k1: stabilising constant of the means' term (``C1 = (k1 L)²``).
        k2: stabilising constant of the variances' term (``C2 = (k2 L)²``).

    Returns:
        Scalar tensor (mean over windows, and over batch/channels if given).
    """
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"x and y must be tensors, got {type(x).__name__}, {type(y).__name__}")
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must have the same shape, got {tuple(x.shape)} vs {tuple(y.shape)}"
        )
    if x.dim() not in (2, 3, 4):
        raise ValueError(f"expected [H, W], [N, H, W] or [N, C, H, W], got shape {tuple(x.shape)}")
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {WINDOWS}, got {window!r}")
    if window_size < 1 or data_range <= 0:
        raise ValueError(
            f"window_size >= 1 and data_range > 0 required, got {window_size}, {data_range}"
        )
    dtype = torch.promote_types(x.dtype, torch.float32)
    x = x.to(dtype).reshape(-1, 1, *x.shape[-2:])
    y = y.to(dtype).reshape(-1, 1, *y.shape[-2:])
    kh, kw = min(window_size, x.shape[-2]), min(window_size, x.shape[-1])
    wh = _window(kh, window, sigma, dtype).to(x.device)
    ww = _window(kw, window, sigma, dtype).to(x.device)
    kernel = (wh[:, None] * ww[None, :])[None, None]  # separable window as one 2-D kernel

    def filt(z: torch.Tensor) -> torch.Tensor:
        return F.conv2d(z, kernel)

    mu_x, mu_y = filt(x), filt(y)
    # Local (co)variances E[zz'] - E[z]E[z']; clamp guards tiny negatives from rounding.
    var_x = (filt(x * x) - mu_x**2).clamp_min(0)
    var_y = (filt(y * y) - mu_y**2).clamp_min(0)
    cov = filt(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return (num / den).mean()
