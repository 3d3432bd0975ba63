"""Contract tests run over every neuron (built in configurations that exercise options)."""

import re

import pytest
import torch
from torch import nn

from spikeforge.functional import (
    ALIFParameters,
    CuBaParameters,
    RLIFParameters,
    alif_sequence,
    cuba_sequence,
    li_sequence,
    lif_sequence,
    rlif_sequence,
)
from spikeforge.functional.state import LIFState
from spikeforge.layers import fold
from spikeforge.neurons import (
    ALIF,
    IF,
    LI,
    LIF,
    PLIF,
    PSN,
    RLIF,
    CuBa,
    ParaLIF,
    SlidingPSN,
    finite_check_enabled,
    set_finite_check,
)
from spikeforge.neurons.base import _env_enabled
from spikeforge.surrogates import ATan, get_surrogate

N = 5
F64 = torch.float64


def make_neurons():
    return {
        "if": IF(reset="subtract"),
        "lif": LIF(tau=3.0, decay_input=False),
        "lif_learnable": LIF(learn_threshold=True, learn_decay=True, graded=True, param_shape=(N,)),
        "lif_detach": LIF(detach_reset=True, surrogate="sigmoid"),
        "plif": PLIF(param_shape=(N,)),
        "alif": ALIF(b=0.3, rho=0.8),
        "cuba": CuBa(alpha=0.7),
        "rlif_one_to_one": RLIF(N),
        "rlif_all_to_all": RLIF(N, all_to_all=True),
        "li": LI(tau=2.0),
        "li_integrator": LI(tau=None),
    }


def functional_twin(neuron, x, state):
    """The functional-core call the module must be a thin shell over."""
    if isinstance(neuron, LI):
        return li_sequence(x, state, neuron._dynamics())
    if isinstance(neuron, RLIF):
        p = RLIFParameters(weight=neuron.recurrent_weight, lif=neuron.parameters_for_dynamics())
        return rlif_sequence(x, state, p)
    if isinstance(neuron, ALIF):
        p = ALIFParameters(lif=neuron.parameters_for_dynamics(), b=neuron.b, rho=neuron.rho)
        return alif_sequence(x, state, p)
    if isinstance(neuron, CuBa):
        return cuba_sequence(
            x, state, CuBaParameters(neuron.alpha, neuron.parameters_for_dynamics())
        )
    return lif_sequence(x, state, neuron.parameters_for_dynamics(), backend="torch")


@pytest.fixture(params=sorted(make_neurons()))
def neuron(request):
    return make_neurons()[request.param].double()


@pytest.fixture
def x(generator):
    return torch.rand(9, 3, N, dtype=F64, generator=generator) * 2.5 - 0.3


def test_module_equals_functional(neuron, x):
    out, state = neuron.run(x)
    ref, ref_state = functional_twin(neuron, x, None)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    for a, b in zip(state, ref_state, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(neuron(x), out, rtol=0, atol=0)


def test_streaming_halves_equal_one_call(neuron, x):
    whole, final = neuron.run(x)
    first, mid = neuron.run(x[:4])
    second, final2 = neuron.run(x[4:], mid)
    torch.testing.assert_close(torch.cat([first, second]), whole, rtol=0, atol=1e-12)
    for a, b in zip(final2, final, strict=True):
        torch.testing.assert_close(a, b)


def test_step_by_step_equals_sequence(neuron, x):
    whole, final = neuron.run(x)
    state, outs = None, []
    for x_t in x:
        out, state = neuron.step(x_t, state)
        outs.append(out)
    torch.testing.assert_close(torch.stack(outs), whole, rtol=0, atol=1e-12)
    for a, b in zip(state, final, strict=True):
        torch.testing.assert_close(a, b)


def test_every_learnable_parameter_gets_a_gradient(neuron, x):
    x = x.clone().requires_grad_()
    neuron(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, param in neuron.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


def test_each_call_starts_from_rest(neuron, x):
    # No hidden state: calling twice gives the same output without any reset ritual.
    torch.testing.assert_close(neuron(x), neuron(x), rtol=0, atol=0)


def test_mismatched_state_raises_never_rezeroes(neuron, x):
    _, state = neuron.run(x)
    with pytest.raises(ValueError, match="does not match the per-step input shape"):
        neuron.run(torch.zeros(4, 2, N, dtype=F64), state)
    with pytest.raises(TypeError, match="state must be a state tuple"):
        neuron.run(x, state=torch.zeros(3, N))


def test_wrong_rank_raises(neuron):
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        neuron(torch.zeros(N, dtype=F64))


def test_composes_in_plain_sequential(generator):
    net = nn.Sequential(fold(nn.Linear(4, 6)), LIF(), fold(nn.Linear(6, 2)), LI(tau=None))
    out = net(torch.rand(5, 3, 4, generator=generator))
    assert out.shape == (5, 3, 2)


def test_per_neuron_parameters_catch_swapped_time_and_batch():
    neuron = LIF(learn_threshold=True, param_shape=(7, 1))  # expects [.., 7, 1] steps?
    with pytest.raises(ValueError, match=r"did you pass \[B, T, \.\.\.\]"):
        neuron(torch.zeros(4, 3, 5))


# Non-finite input: refused at the neuron call, never read as "no spike".

BAD = {"NaN": float("nan"), "+inf": float("inf"), "-inf": float("-inf")}


@pytest.mark.parametrize("kind", sorted(BAD))
@pytest.mark.parametrize("t", [0, 4, 8])
def test_non_finite_input_is_refused_naming_layer_and_place(neuron, x, kind, t):
    x = x.clone()
    x[t, 1, 2] = BAD[kind]
    name, kind = type(neuron).__name__, re.escape(kind)
    with pytest.raises(
        ValueError, match=rf"input to {name} layer contains {kind} at index \[{t}, 1, 2\]"
    ):
        neuron(x)
    with pytest.raises(ValueError, match=r"SPIKEFORGE_CHECK_FINITE=0"):
        neuron.run(x[: t + 1])
    state = None
    for x_t in x[:t]:
        _, state = neuron.step(x_t, state)
    with pytest.raises(
        ValueError, match=rf"input to {name} layer contains {kind} at index \[1, 2\]"
    ):
        neuron.step(x[t], state)


def _state_keeping_neurons(backend):
    """Every charge/reset form: the cheap check relies on the final state keeping NaN/inf."""
    for reset in ("zero", "subtract", "none"):
        yield IF(reset=reset, backend=backend)
        yield LIF(reset=reset, backend=backend)
        yield LIF(tau=1.0, reset=reset, decay_input=False, backend=backend)
        yield ALIF(reset=reset, backend=backend)
        yield CuBa(alpha=0.0, reset=reset, backend=backend)
    yield LI(tau=1.0, backend=backend)
    yield LI(tau=None, backend=backend)
    yield LI(tau=3.0, decay_input=False, backend=backend)


@pytest.mark.parametrize("backend", ["torch", "auto"])  # "auto": the fused CPU kernels
def test_the_final_state_keeps_any_non_finite_input(backend):
    for neuron in _state_keeping_neurons(backend):
        assert neuron.state_keeps_non_finite
        for value in BAD.values():
            for t in (0, 3, 7):
                x = torch.full((8, 2, 3), 2.0)  # fires every step: resets act on the bad value
                x[t, 0, 1] = value
                previous = set_finite_check(False)
                try:
                    _, state = neuron.run(x)
                finally:
                    set_finite_check(previous)
                assert not torch.isfinite(state.v[0, 1]), (neuron, value, t)
                with pytest.raises(ValueError, match=rf"at index \[{t}, 0, 1\]"):
                    neuron.run(x)


def test_non_finite_state_or_parameter_is_named():
    x = torch.rand(4, 2, 3)
    v = torch.zeros(2, 3)
    v[1, 2] = float("nan")
    match = r"state\.v passed to LIF layer contains NaN at index \[1, 2\]"
    with pytest.raises(ValueError, match=match):
        LIF().run(x, LIFState(v))
    with pytest.raises(ValueError, match=match):
        LIF().step(x[0], LIFState(v))
    neuron = PLIF()
    with torch.no_grad():
        neuron.decay_logit.fill_(float("nan"))
    with pytest.raises(ValueError, match="parameter.* decay_logit are not finite"):
        neuron(x)


def test_finite_check_can_be_turned_off_and_then_nan_is_silent():
    x = torch.full((6, 1, 1), 2.0)
    x[1] = float("nan")
    neuron = LIF()
    previous = set_finite_check(False)
    try:
        assert not finite_check_enabled()
        out = neuron(x)  # what the check prevents: the NaN kills the neuron for good
    finally:
        assert set_finite_check(previous) is False
    assert out.flatten().tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert finite_check_enabled()
    with pytest.raises(TypeError, match="True or False"):
        set_finite_check(0)


def test_finite_check_environment_variable_values():
    assert _env_enabled(None) and _env_enabled("") and _env_enabled("1") and _env_enabled("yes")
    assert not any(_env_enabled(v) for v in ("0", "false", "No", " off "))
    with pytest.raises(ValueError, match="SPIKEFORGE_CHECK_FINITE must be 0 or 1"):
        _env_enabled("maybe")


def test_large_finite_input_is_not_refused():
    out = LIF()(torch.full((3, 4, 1000), 3e38))  # the sums overflow, the entries are finite
    assert out.sum() == 3 * 4 * 1000


# A 2-D input [B, F] (one step, snnTorch's per-step call) is refused, not read as T = B.


def test_two_dim_input_is_refused_with_the_fixes(neuron):
    step = torch.rand(3, N, dtype=F64)  # [B, F]: one time step
    for call in (neuron, neuron.run):
        with pytest.raises(ValueError, match=r"shape \(3, 5\).*T=3 time steps") as err:
            call(step)
        assert "neuron.step(x_t, state)" in str(err.value)
        assert "x.unsqueeze(0)" in str(err.value) and "x.unsqueeze(-1)" in str(err.value)
    # The fixes named in the message agree with each other.
    out_t, _ = neuron.step(step)
    torch.testing.assert_close(neuron(step.unsqueeze(0))[0], out_t, rtol=0, atol=0)


@pytest.mark.parametrize(
    "make", [lambda: SlidingPSN(k=2), lambda: PSN(4), lambda: ParaLIF()], ids=str
)
def test_two_dim_input_is_refused_by_parallel_neurons_too(make):
    neuron = make()
    for call in (neuron, neuron.run):
        with pytest.raises(ValueError, match=r"neuron\.step\(x_t, state\)"):
            call(torch.rand(4, 3))
    assert neuron(torch.rand(4, 3, 1)).shape == (4, 3, 1)  # [T, B] as [T, B, 1]


# "Coming from snnTorch or SpikingJelly" (README): every row of the table, against the
# other library's update written out from its source (snntorch/_neurons/leaky.py,
# spikingjelly/activation_based/neuron/lif.py).


def snntorch_leaky(x, beta, mechanism, threshold=1.0):
    """``snn.Leaky(beta, reset_mechanism=...)`` stepped over ``x[t]`` (default reset_delay)."""
    mem, spikes, mems = torch.zeros_like(x[0]), [], []
    for x_t in x:
        reset = (mem - threshold > 0).to(x.dtype)  # from the previous (pre-reset) mem
        if mechanism == "zero":
            mem = (1 - reset) * mem
        mem = beta * mem + x_t - (reset * threshold if mechanism == "subtract" else 0)
        spikes.append((mem - threshold > 0).to(x.dtype))  # fires at >
        mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)


def spikingjelly_lif(x, tau, v_reset, v_threshold=1.0, charge="lif"):
    """``sj neuron.LIFNode`` / ``IFNode`` (``decay_input=True``); ``v_reset=None``: soft."""
    v, spikes = torch.zeros_like(x[0]), []
    for x_t in x:
        h = v + x_t if charge == "if" else v + (x_t - (v - (v_reset or 0.0))) / tau
        s = (h >= v_threshold).to(x.dtype)  # fires at >=
        v = h - v_threshold * s if v_reset is None else h * (1 - s) + v_reset * s
        spikes.append(s)
    return torch.stack(spikes)


@pytest.fixture
def drive(generator):
    return torch.rand(40, 3, N, dtype=F64, generator=generator) * 0.9


@pytest.mark.parametrize("beta", [0.75, 0.9])
@pytest.mark.parametrize("mechanism", ["zero", "none"])
def test_idiom_snntorch_leaky_beta_is_tau(drive, beta, mechanism):
    lif = LIF(tau=1 / (1 - beta), decay_input=False, reset=mechanism).double()
    spikes, mem = snntorch_leaky(drive, beta, mechanism)
    assert 0 < spikes.mean() < 1
    assert torch.equal(lif(drive), spikes)
    # snnTorch's mem is the pre-reset membrane H; with reset="none" that is V as well.
    if mechanism == "none":
        torch.testing.assert_close(lif.run(drive)[1].v, mem[-1])


def test_idiom_snntorch_default_subtract_reset_is_close_not_identical(drive):
    beta = 0.75
    ours = LIF(tau=1 / (1 - beta), decay_input=False, reset="subtract").double()(drive)
    theirs, _ = snntorch_leaky(drive, beta, "subtract")
    first = int(theirs.sum((1, 2)).nonzero()[0])  # identical up to the first spike ...
    assert torch.equal(ours[: first + 1], theirs[: first + 1])
    # ... then their threshold comes off one step later, undecayed (here it decays with
    # the membrane): they remove more charge per spike and fire less.
    assert not torch.equal(ours, theirs) and theirs.sum() < ours.sum()


@pytest.mark.parametrize("v_reset", [0.0, None])
def test_idiom_spikingjelly_lifnode_and_ifnode(drive, v_reset):
    reset = "zero" if v_reset is not None else "subtract"
    x = drive * 2
    assert torch.equal(LIF(tau=2.0, reset=reset).double()(x), spikingjelly_lif(x, 2.0, v_reset))
    assert torch.equal(IF(reset=reset).double()(x), spikingjelly_lif(x, 2.0, v_reset, charge="if"))
    # ParametricLIFNode(init_tau=2): learnable 1/tau = sigmoid(w), same start as LIF(tau=2).
    plif = PLIF(tau=2.0, reset=reset).double()
    assert [n for n, _ in plif.named_parameters()] == ["decay_logit"]
    assert torch.equal(plif(x), spikingjelly_lif(x, 2.0, v_reset))


def test_idiom_renamed_options_and_atan_surrogate():
    lif = LIF(v_th=0.5, learn_decay=True, learn_threshold=True, surrogate=ATan(alpha=4.0))
    assert sorted(n for n, _ in lif.named_parameters()) == ["decay_logit", "v_th"]
    assert lif.surrogate == get_surrogate({"name": "atan", "alpha": 4}) == ATan(alpha=4.0)
    assert LIF(surrogate="atan").surrogate == ATan(alpha=2.0)
    # The gradient snnTorch's atan(alpha) and SpikingJelly's ATan(alpha) use.
    x = torch.linspace(-2, 2, 41, dtype=F64)
    alpha = 4.0
    expected = alpha / 2 / (1 + (torch.pi / 2 * alpha * x) ** 2)
    torch.testing.assert_close(ATan(alpha=alpha).derivative(x), expected)
    h = x.clone().requires_grad_()
    ATan(alpha=alpha)(h).sum().backward()
    torch.testing.assert_close(h.grad, expected)


def test_idiom_per_step_calls_and_hidden_state(drive):
    lif = LIF(tau=4.0, decay_input=False).double()
    state, record = None, []  # mem = lif.init_leaky()
    for x_t in drive:  # spk, mem = lif(x_t, mem)
        spk, state = lif.step(x_t, state)
        record.append(spk)
    assert torch.equal(torch.stack(record), lif(drive))  # the loop is one call
    assert state.v.shape == drive.shape[1:]
    assert record[-1].any() and (state.v[record[-1] == 1] == 0).all()  # v after the reset
    # init_hidden=True: state carried between calls, here explicitly.
    first, carried = lif.run(drive[:15])
    rest, final = lif.run(drive[15:], carried)
    assert torch.equal(torch.cat([first, rest]), lif(drive))
    torch.testing.assert_close(final.v, state.v)


def test_idiom_reset_net_is_a_harmless_no_op(neuron, x):
    before = neuron(x)
    net = nn.Sequential(fold(nn.Identity()), neuron)
    for module in net.modules():  # what SpikingJelly's functional.reset_net(net) does
        if hasattr(module, "reset"):
            module.reset()
    assert neuron.reset() is None
    torch.testing.assert_close(net(x), before, rtol=0, atol=0)
    assert LIF(reset="subtract").reset_mode == "subtract"
    assert "reset='subtract'" in repr(IF(reset="subtract"))


def test_idiom_multi_step_layers_are_folded(generator):
    conv = nn.Conv2d(2, 3, 3, padding=1).double()
    x = torch.rand(4, 2, 2, 6, 6, dtype=F64, generator=generator)  # [T, B, C, H, W]
    per_step = torch.stack([conv(x_t) for x_t in x])  # step_mode='s', one call per step
    torch.testing.assert_close(fold(conv)(x), per_step)  # SeqToANNContainer(conv)
