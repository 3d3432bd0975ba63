r"""Parallel Spiking Unit membrane (Li et al., 2024) as a pure function.

A soft-reset LIF neuron from rest (``V_reset = 0``) has, before firing,

    ``H[t] = Σ_{i≤t} A[t,i] X[i] - V_th Σ_{i<t} R[t,i] S[i]``

with ``A`` the LIF kernel (``β^{t-i}/τ``) and ``R[t,i] = β^{t-i}`` (``i < t``): each
earlier spike subtracted ``V_th`` and that subtraction has decayed since. The sequential
dependence is only through ``S``. PSU replaces the spikes inside the reset term by a
smooth estimate ``Ŝ = σ(A X - V_th)`` computed from the reset-free membrane, which
makes everything two GEMMs over ``[T, B·N]``:

    ``V = A X - V_th · R · Ŝ``,   ``S = Θ(V - V_th)``.

With ``estimate`` = the true spikes, ``V`` equals the soft-reset LIF's ``H`` exactly —
the identity the tests use to check ``A`` and ``R``.
"""

from __future__ import annotations

import torch

from .parallel import temporal_matmul


def psu_membrane(
    x: torch.Tensor,
    integration: torch.Tensor,
    reset: torch.Tensor,
    v_th: float | torch.Tensor,
    estimate: torch.Tensor | None = None,
    estimate_integration: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""PSU membrane ``V = A X - V_th R Ŝ`` for ``x`` ``[T, B, ...]``.

    Args:
        x: input current ``[T, B, ...]``.
        integration: ``A`` ``[T, T]`` (lower-triangular for a causal unit).
        reset: ``R`` ``[T, T]`` (strictly lower-triangular for a causal unit).
        v_th: firing threshold.
        estimate: spikes (or spike probabilities) ``[T, B, ...]`` to use in the reset
            term; default ``σ(A' X - V_th)``.
        estimate_integration: ``A'`` used inside the default estimate (default ``A``).

    Returns:
        the membrane ``V`` ``[T, B, ...]`` (fire with ``Θ(V - V_th)``).
    """
    charge = temporal_matmul(integration, x)
    if estimate is None:
        pre = charge if estimate_integration is None else temporal_matmul(estimate_integration, x)
        estimate = torch.sigmoid(pre - v_th)
    return charge - v_th * temporal_matmul(reset, estimate)
