"""IF/LIF golden trajectories, computed by hand from METHODS §1 (float64)."""

import pytest
import torch

from spikeforge.functional import LIFParameters, LIFState, lif_sequence, lif_step
from spikeforge.surrogates import Sigmoid

F64 = torch.float64


def seq(values):
    return torch.tensor(values, dtype=F64).view(-1, 1, 1)  # [T, B=1, N=1]


def trajectory(x, p):
    """Final state of each prefix = the membrane V[t] after every step."""
    spikes, _ = lif_sequence(x, None, p, backend="torch")
    vs = [lif_sequence(x[: t + 1], None, p, backend="torch")[1].v.item() for t in range(len(x))]
    return spikes.flatten().tolist(), vs


# x = 1.5, 0.5, 1.5, 2.0, 0.2 ; tau = 2 (decay_input): H = V + (X - V)/2.
# H0 = .75, H1 = .625, H2 = 1.0625 (spike). Then per reset mode:
#   zero:     V2 = 0,      H3 = 1.0 (fires AT threshold), V3 = 0, H4 = .1
#   subtract: V2 = .0625,  H3 = 1.03125 -> V3 = .03125, H4 = .115625
#   none:     V2 = 1.0625, H3 = 1.53125 -> V3 = 1.53125, H4 = .865625
GOLDEN = {
    "zero": ([0, 0, 1, 1, 0], [0.75, 0.625, 0.0, 0.0, 0.1]),
    "subtract": ([0, 0, 1, 1, 0], [0.75, 0.625, 0.0625, 0.03125, 0.115625]),
    "none": ([0, 0, 1, 1, 0], [0.75, 0.625, 1.0625, 1.53125, 0.865625]),
}


@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
def test_lif_decay_input_golden(reset):
    p = LIFParameters(inv_tau=0.5, reset=reset)
    spikes, vs = trajectory(seq([1.5, 0.5, 1.5, 2.0, 0.2]), p)
    assert spikes == GOLDEN[reset][0]
    assert vs == pytest.approx(GOLDEN[reset][1], abs=1e-12)


def test_lif_without_input_decay_is_snntorch_leaky_form():
    # U = 0.5 U + X: .6 ; .3 + .8 = 1.1 spike -> 0 ; .5
    p = LIFParameters(inv_tau=0.5, decay_input=False)
    spikes, vs = trajectory(seq([0.6, 0.8, 0.5]), p)
    assert spikes == [0, 1, 0]
    assert vs == pytest.approx([0.6, 0.0, 0.5], abs=1e-12)


def test_if_golden_and_nonzero_reset_potential():
    p = LIFParameters(charge="if", reset="zero", v_reset=-0.5)
    # V starts at V_reset = -0.5: H = -.1 ; .5 ; 1.5 spike -> -0.5 ; -0.2
    spikes, vs = trajectory(seq([0.4, 0.6, 1.0, 0.3]), p)
    assert spikes == [0, 0, 1, 0]
    assert vs == pytest.approx([-0.1, 0.5, -0.5, -0.2], abs=1e-12)


def test_firing_convention_fires_at_equality():
    p = LIFParameters(charge="if", v_th=1.0)
    spikes, _ = lif_sequence(seq([1.0]), None, p)
    assert spikes.item() == 1.0
    spikes, _ = lif_sequence(seq([1.0 - 1e-12]), None, p)
    assert spikes.item() == 0.0


def test_streaming_two_halves_equals_one_call(generator):
    x = torch.randn(12, 3, 5, dtype=F64, generator=generator) * 1.5
    p = LIFParameters(inv_tau=0.3, reset="subtract")
    whole, final = lif_sequence(x, None, p)
    first, mid = lif_sequence(x[:5], None, p)
    second, final2 = lif_sequence(x[5:], mid, p)
    assert torch.equal(torch.cat([first, second]), whole)
    torch.testing.assert_close(final2.v, final.v)


def test_step_by_step_equals_sequence(generator):
    x = torch.randn(7, 4, dtype=F64, generator=generator) * 2
    p = LIFParameters(inv_tau=0.4, decay_input=False, reset="zero", spike_scale=2.0)
    spikes, final = lif_sequence(x, None, p)
    state, outs = None, []
    for x_t in x:
        out, state = lif_step(x_t, state, p)
        outs.append(out)
    assert torch.equal(torch.stack(outs), spikes)
    assert set(spikes.unique().tolist()) <= {0.0, 2.0}  # graded spikes scale the output
    torch.testing.assert_close(state.v, final.v)


def test_plif_gradient_reaches_decay_parameter_and_threshold(generator):
    w = torch.tensor(0.0, dtype=F64, requires_grad=True)
    v_th = torch.tensor(1.0, dtype=F64, requires_grad=True)
    x = torch.rand(6, 4, 3, dtype=F64, generator=generator) * 3
    p = LIFParameters(inv_tau=torch.sigmoid(w), v_th=v_th, surrogate=Sigmoid())
    spikes, _ = lif_sequence(x, None, p)
    spikes.sum().backward()
    assert w.grad is not None and w.grad.abs() > 0
    assert v_th.grad is not None and v_th.grad.abs() > 0


def test_bptt_gradient_by_hand_two_steps():
    # IF, hard reset, not detached, x = (0.6, 0.6), V_th = 1, surrogate derivative g.
    # H0 = .6 (no spike), V0 = .6 ; H1 = 1.2 -> S1 = 1.
    # dS1/dx0 = g(H1 - 1) * dH1/dx0 = g(0.2) * dV0/dx0, and
    # dV0/dH0 = 1 - S0 - (H0 - 0) g(H0 - 1) = 1 - .6 g(-.4).
    sur = Sigmoid(alpha=4.0)
    x = torch.tensor([[0.6], [0.6]], dtype=F64, requires_grad=True)
    spikes, _ = lif_sequence(x, None, LIFParameters(charge="if", surrogate=sur), backend="torch")
    spikes[1].sum().backward()
    g = sur.derivative
    expected_x0 = g(torch.tensor(0.2, dtype=F64)) * (1 - 0.6 * g(torch.tensor(-0.4, dtype=F64)))
    torch.testing.assert_close(x.grad[0, 0], expected_x0)
    torch.testing.assert_close(x.grad[1, 0], g(torch.tensor(0.2, dtype=F64)))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="reset must be one of"):
        LIFParameters(reset="hard")
    with pytest.raises(ValueError, match="inv_tau"):
        LIFParameters(inv_tau=1.5)
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        lif_sequence(torch.zeros(3))
    with pytest.raises(ValueError, match=r"did you pass \[B, T, \.\.\.\]"):
        lif_sequence(torch.zeros(4, 8, 3), LIFState(torch.zeros(4, 3)))
    with pytest.raises(ValueError, match="backend must be one of"):
        lif_sequence(torch.zeros(4, 8, 3), backend="cuda")


def test_parameters_refuse_non_finite_numbers():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="inv_tau = 1/tau must lie in"):
            LIFParameters(inv_tau=bad)
        with pytest.raises(ValueError, match="v_th must be a finite number"):
            LIFParameters(v_th=bad)
        with pytest.raises(ValueError, match="v_reset must be a finite number"):
            LIFParameters(v_reset=bad)
    LIFParameters(v_th=torch.tensor(float("nan")))  # tensors are not scanned (no sync)
