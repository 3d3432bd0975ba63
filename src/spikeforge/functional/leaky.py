r"""First-order linear state over ``[T, B, ...]``: ``y[t] = f(y[t-1], x[t])``, all of it.

The non-firing half of several neurons, as one kernel family (``"leaky"``):

- the LI readout's membrane: the LIF charge without firing or reset (forms
  ``"integrate"``, ``"lif"``, ``"lif_no_decay"``: :func:`leaky_of_lif`);
- the CuBa neuron's synaptic current ``I[t] = α I[t-1] + X[t]`` (form ``"decay"``).

Each form repeats its reference's operations in the same order, so a fused kernel can
be bit-identical to it. The output is the whole trajectory ``y`` ``[T, B, ...]`` and the
final state ``y[T-1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validation import check_choice, check_finite, check_sequence, check_state_shape
from .backends import dispatch, register_kernel
from .lif import LIFParameters
from .reset import Scalar
from .scan import scan

LEAKY_FORMS = ("integrate", "lif", "lif_no_decay", "decay")


@dataclass(frozen=True)
class LeakyParameters:
    """``form`` and its coefficient ``coef`` (``1/τ`` for the LIF forms, ``α`` for
    ``"decay"``, unused by ``"integrate"``); ``rest`` is the LIF forms' ``V_reset``.

    ``coef`` may be a tensor (learnable) broadcasting to the step shape ``[B, ...]``.
    """

    form: str = "lif"
    coef: Scalar = 0.5
    rest: float = 0.0

    def __post_init__(self) -> None:
        check_choice(self.form, "form", LEAKY_FORMS)
        if not isinstance(self.coef, torch.Tensor) and not 0.0 <= self.coef <= 1.0:
            raise ValueError(f"coef (1/tau or alpha) must lie in [0, 1], got {self.coef}")
        check_finite(self.rest, "rest")


def leaky_of_lif(p: LIFParameters) -> LeakyParameters:
    """The LIF charge of ``p`` (no firing) as a leaky scan."""
    if p.charge == "if":
        return LeakyParameters("integrate", 0.0, p.v_reset)
    return LeakyParameters("lif" if p.decay_input else "lif_no_decay", p.inv_tau, p.v_reset)


def leaky_update(y: torch.Tensor, x: torch.Tensor, p: LeakyParameters) -> torch.Tensor:
    """``y[t]`` from ``y[t-1]`` and ``x[t]`` (``[B, ...]`` each)."""
    if p.form == "integrate":
        return y + x
    if p.form == "lif":
        return y + (x - (y - p.rest)) * p.coef
    if p.form == "lif_no_decay":
        return y - (y - p.rest) * p.coef + x
    return p.coef * y + x


@register_kernel("leaky", "torch")
def leaky_scan_reference(
    x: torch.Tensor, y0: torch.Tensor, p: LeakyParameters
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain-torch reference kernel: the trajectory ``[T, B, ...]`` and ``y[T-1]``."""

    def step(x_t: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = leaky_update(y, x_t, p)
        return y, y

    return scan(step, x, y0)


def leaky_scan(
    x: torch.Tensor, y0: torch.Tensor, p: LeakyParameters, backend: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the scan over ``x`` ``[T, B, ...]`` from ``y0`` ``[B, ...]``.

    Returns the trajectory ``y`` ``[T, B, ...]`` and the final state ``[B, ...]``;
    ``backend`` as for :func:`~spikeforge.functional.lif.lif_sequence`.
    """
    check_sequence(x)
    check_state_shape(y0.shape, x.shape[1:], sequence=True)
    return dispatch("leaky", backend, x, p)(x, y0, p)
