r"""Trace-based pair STDP (local, unsupervised): ``ΔW = A₊ x_pre S_post − A₋ x_post S_pre``.

Each side keeps an exponentially decaying trace of its own spikes,
``x[t] = λ x[t-1] + S[t]`` with ``λ = exp(-1/τ)``. A postsynaptic spike potentiates every
synapse by ``A₊`` times its presynaptic trace (pre-before-post, including a presynaptic
spike in the same step); a presynaptic spike depresses it by ``A₋`` times the
postsynaptic trace of the earlier steps, decayed to this one (post-before-pre; a
same-step pair counts once, as potentiation). Every pair counts (all-to-all pairing):
``ΔW_ji = A₊ Σ_{t_pre ≤ t_post} λ_pre^{t_post - t_pre} - A₋ Σ_{t_post < t_pre}
λ_post^{t_pre - t_post}``, averaged over the batch.
"""

from __future__ import annotations

import math

import torch


def stdp_update(
    pre: torch.Tensor,
    post: torch.Tensor,
    tau_pre: float = 20.0,
    tau_post: float = 20.0,
    a_plus: float = 0.01,
    a_minus: float = 0.0105,
) -> torch.Tensor:
    """The weight change ``[J, I]`` for pre spikes ``[T, B, I]`` and post spikes ``[T, B, J]``.

    Args:
        pre, post: spike sequences (0/1, time-major, the same T and B).
        tau_pre, tau_post: trace time constants in steps (> 0).
        a_plus, a_minus: potentiation and depression amplitudes (>= 0).
    """
    if pre.dim() != 3 or post.dim() != 3 or pre.shape[:2] != post.shape[:2]:
        raise ValueError(
            f"pre and post must be [T, B, I] and [T, B, J] with the same T and B, got "
            f"{tuple(pre.shape)} and {tuple(post.shape)}"
        )
    if not (tau_pre > 0 and tau_post > 0):
        raise ValueError(f"time constants must be positive, got {tau_pre}, {tau_post}")
    if a_plus < 0 or a_minus < 0:
        raise ValueError(f"amplitudes must be >= 0, got {a_plus}, {a_minus}")
    decay_pre, decay_post = math.exp(-1.0 / tau_pre), math.exp(-1.0 / tau_post)
    T, B = pre.shape[:2]
    x_pre = pre.new_zeros(pre.shape[1:])
    x_post = post.new_zeros(post.shape[1:])
    dw = pre.new_zeros(post.shape[2], pre.shape[2])
    for t in range(T):
        x_pre = decay_pre * x_pre + pre[t]
        dw -= a_minus * (decay_post * x_post).T @ pre[t]  # post before pre (earlier steps)
        x_post = decay_post * x_post + post[t]
        dw += a_plus * post[t].T @ x_pre  # pre before (or with) post
    return dw / B
