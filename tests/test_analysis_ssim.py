import itertools

import pytest
import torch

from spikeforge.analysis.ssim import ssim


def brute_force_ssim(x: torch.Tensor, y: torch.Tensor, size: int, c1: float, c2: float) -> float:
    """Textbook SSIM with a uniform window, one window at a time (population statistics)."""
    values = []
    for i, j in itertools.product(range(x.shape[0] - size + 1), range(x.shape[1] - size + 1)):
        a, b = x[i : i + size, j : j + size].flatten(), y[i : i + size, j : j + size].flatten()
        ma, mb = a.mean(), b.mean()
        va, vb = ((a - ma) ** 2).mean(), ((b - mb) ** 2).mean()
        cov = ((a - ma) * (b - mb)).mean()
        values.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(torch.stack(values).mean())


def test_identity_is_one_and_symmetric(generator):
    x = torch.rand(16, 16, generator=generator, dtype=torch.float64)
    y = torch.rand(16, 16, generator=generator, dtype=torch.float64)
    for window in ("gaussian", "uniform"):
        assert float(ssim(x, x, window=window)) == pytest.approx(1.0, abs=1e-12)
        assert float(ssim(x, y, window=window)) == pytest.approx(float(ssim(y, x, window=window)))
        assert float(ssim(x, y, window=window)) < 0.5


def test_decreases_with_noise(generator):
    base = torch.linspace(0, 1, 24, dtype=torch.float64)
    x = base[:, None] * base[None, :]
    noise = torch.randn(24, 24, generator=generator, dtype=torch.float64)
    scores = [float(ssim(x, x + level * noise)) for level in (0.0, 0.02, 0.1, 0.3)]
    assert scores[0] == pytest.approx(1.0)
    assert all(a > b for a, b in itertools.pairwise(scores))


def test_matches_brute_force_uniform_window(generator):
    x = torch.rand(9, 10, generator=generator, dtype=torch.float64)
    y = (x + 0.2 * torch.rand(9, 10, generator=generator, dtype=torch.float64)).clamp(0, 1)
    expected = brute_force_ssim(x, y, 4, (0.01) ** 2, (0.03) ** 2)
    assert float(ssim(x, y, window="uniform", window_size=4)) == pytest.approx(expected, rel=1e-10)


def test_batches_small_maps_and_validation(generator):
    x = torch.rand(2, 3, 4, 4, generator=generator)
    assert float(ssim(x, x)) == pytest.approx(1.0, abs=1e-6)  # 7×7 window clipped to 4×4
    with pytest.raises(ValueError, match="same shape"):
        ssim(x, x[0])
    with pytest.raises(ValueError, match="window must be"):
        ssim(x, x, window="box")
    with pytest.raises(TypeError, match="tensors"):
        ssim(x.tolist(), x)  # type: ignore[arg-type]
