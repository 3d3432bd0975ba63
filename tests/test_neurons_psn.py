"""PSN, masked PSN and sliding PSN (METHODS §3.1)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from spikeforge._schedule import find_scheduled, schedule_values, set_progress
from spikeforge.functional import LIFParameters, li_sequence, lif_sequence
from spikeforge.functional.parallel import lif_kernel_matrix
from spikeforge.neurons import NEURONS, PSN, MaskedPSN, SlidingPSN
from spikeforge.neurons.psn import DEFAULT_MASK_SCHEDULE, sliding_backend

F64 = torch.float64


class _Membrane(nn.Module):
    """Expose a neuron's pre-spike membrane as forward (for gradcheck on parameters)."""

    def __init__(self, neuron: nn.Module) -> None:
        super().__init__()
        self.n = neuron

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.n.membrane(x) if hasattr(self.n, "membrane") else self.n.charge(x)


def test_registry_names() -> None:
    for name in ("psn", "masked_psn", "sliding_psn"):
        assert name in NEURONS


@pytest.mark.parametrize("decay_input", [True, False])
def test_psn_with_lif_kernel_reproduces_no_reset_lif(decay_input: bool) -> None:
    torch.manual_seed(0)
    T, tau, v_th = 12, 2.5, 0.75  # exactly representable in the float32 init
    x = torch.rand(T, 4, 6, dtype=F64) * 1.5
    psn = PSN(T, tau=tau, v_th=v_th).double()
    with torch.no_grad():
        psn.weight.copy_(lif_kernel_matrix(T, tau, decay_input, dtype=F64))
    p = LIFParameters(inv_tau=1 / tau, v_th=v_th, reset="none", decay_input=decay_input)
    spikes, _ = lif_sequence(x, None, p, backend="torch")
    assert 0 < spikes.mean() < 1
    assert torch.equal(psn(x), spikes)
    membrane, _ = li_sequence(x, None, p)
    torch.testing.assert_close(psn.membrane(x) + v_th, membrane, rtol=0, atol=1e-13)


def test_psn_default_init_is_lif_and_kaiming_option() -> None:
    psn = PSN(5, tau=2.0)
    torch.testing.assert_close(psn.weight.data, lif_kernel_matrix(5, 2.0))
    assert torch.all(psn.threshold.data == 1.0)
    kaiming = PSN(5, init="kaiming")
    assert not torch.equal(torch.triu(kaiming.weight.data, 1), torch.zeros(5, 5))


def test_gradients_reach_weight_and_threshold() -> None:
    torch.manual_seed(1)
    for neuron in (PSN(6), MaskedPSN(6, k=3, mask_progress=0.5), SlidingPSN(k=3)):
        x = torch.rand(6, 3, 4) * 2
        neuron(x).sum().backward()
        assert neuron.weight.grad is not None and neuron.weight.grad.abs().sum() > 0
        assert neuron.threshold.grad is not None and neuron.threshold.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "neuron",
    [PSN(5), MaskedPSN(5, k=2, mask_progress=0.3), SlidingPSN(k=3)],
    ids=["psn", "masked", "sliding"],
)
def test_gradcheck_membrane_path(neuron: nn.Module) -> None:
    neuron = neuron.double()
    wrapper = _Membrane(neuron)
    x = torch.randn(5, 2, 3, dtype=F64, requires_grad=True)
    w = neuron.weight.detach().clone().requires_grad_(True)
    b = neuron.threshold.detach().clone().requires_grad_(True)

    def f(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return functional_call(wrapper, {"n.weight": w, "n.threshold": b}, (x,))

    if isinstance(neuron, SlidingPSN):  # charge has no threshold: check W and x only
        assert torch.autograd.gradcheck(lambda w, x: f(w, b, x), (w, x))
    else:
        assert torch.autograd.gradcheck(f, (w, b, x))


@pytest.mark.parametrize("cls", [PSN, MaskedPSN])
def test_time_steps_mismatch_raises(cls: type[PSN]) -> None:
    neuron = cls(T=8)
    with pytest.raises(ValueError, match=r"built for T = 8 .* T = 6"):
        neuron(torch.zeros(6, 2, 3))


def test_whole_sequence_neurons_refuse_step_and_state() -> None:
    psn = PSN(4)
    with pytest.raises(NotImplementedError, match="whole sequence"):
        psn.step(torch.zeros(2, 3))
    out, state = psn.run(torch.zeros(4, 2, 3))
    assert out.shape == (4, 2, 3) and state == ()
    with pytest.raises(ValueError, match="state=None"):
        psn.run(torch.zeros(4, 2, 3), (torch.zeros(2, 3),))


def test_masked_psn_is_causal_at_lambda_one() -> None:
    torch.manual_seed(2)
    T, k = 10, 3
    neuron = MaskedPSN(T, k=k, mask_progress=1.0, init="kaiming", v_th=0.0).double()
    x = torch.randn(T, 2, 5, dtype=F64)
    h = neuron.membrane(x)
    s = neuron(x)
    for t in range(T - 1):
        y = x.clone()
        y[t + 1 :] = torch.randn_like(y[t + 1 :]) * 5
        torch.testing.assert_close(neuron.membrane(y)[: t + 1], h[: t + 1], rtol=0, atol=0)
        assert torch.equal(neuron(y)[: t + 1], s[: t + 1])
        # ...and only the last k inputs matter.
        z = x.clone()
        z[: max(0, t - k + 1)] = 7.0
        torch.testing.assert_close(neuron.membrane(z)[t], h[t], rtol=0, atol=0)


def test_masked_psn_progressive_mask() -> None:
    torch.manual_seed(3)
    neuron = MaskedPSN(6, k=2, init="kaiming").double()
    x = torch.randn(6, 3, dtype=F64)
    psn = PSN(6).double()
    psn.load_state_dict({"weight": neuron.weight.data, "threshold": neuron.threshold.data})
    torch.testing.assert_close(neuron.membrane(x), psn.membrane(x))  # λ = 0: no mask
    neuron.set_mask_progress(0.25)
    mixed = 0.25 * neuron.mask + 0.75 * torch.ones(6, 6, dtype=F64)
    torch.testing.assert_close(neuron.effective_weight(), neuron.weight * mixed)
    assert "_mask_progress" in neuron.state_dict()
    for bad in (-0.1, 1.5, "1"):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            neuron.set_mask_progress(bad)  # type: ignore[arg-type]


def test_training_progress_steps_lambda_of_every_masked_psn_to_one() -> None:
    # What the trainer does (spikeforge._schedule): every masked PSN of a model follows
    # its mask_schedule, λ linear from start to end, then 1 for the rest of training.
    model = nn.Sequential(
        MaskedPSN(4, k=2, mask_schedule=[0.0, 0.5]), nn.Identity(), MaskedPSN(4, k=3)
    )
    scheduled = find_scheduled(model)
    assert [name for name, _ in scheduled] == ["0", "2"]
    assert model[0].mask_progress == 0.0 and model[2].mask_progress == 0.0
    values = []
    for progress in (0.125, 0.25, 0.375, 0.5, 0.75, 1.0):
        set_progress(scheduled, progress)
        values.append(model[0].mask_progress)
    assert values == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert model[2].mask_progress == 1.0  # the default ramp ended at 1/8 of training
    assert schedule_values(scheduled) == {"0.mask_progress": 1.0, "2.mask_progress": 1.0}


def test_masked_psn_schedule_default_fixed_lambda_and_their_exclusion() -> None:
    # Default: the authors' progressive masking, λ 0 → 1 over the first eighth.
    assert DEFAULT_MASK_SCHEDULE == (0.0, 0.125)
    neuron = MaskedPSN(4)
    assert neuron.mask_schedule == (0.0, 0.125) and neuron.mask_progress == 0.0
    neuron.on_training_progress(0.0625)
    assert neuron.mask_progress == 0.5 and neuron.schedule_values() == {"mask_progress": 0.5}
    assert "mask_schedule=[0.0, 0.125]" in repr(neuron)
    # A schedule that has already ended at the start: causal from the first step.
    assert MaskedPSN(4, mask_schedule=(0, 0)).mask_progress == 1.0
    # A fixed λ: the trainer's calls leave it alone, and nothing is logged for it.
    fixed = MaskedPSN(4, mask_progress=0.3)
    assert fixed.mask_schedule is None and "fixed" in repr(fixed)
    fixed.on_training_progress(1.0)
    assert fixed.mask_progress == pytest.approx(0.3) and fixed.schedule_values() == {}
    with pytest.raises(ValueError, match="not both"):
        MaskedPSN(4, mask_progress=1.0, mask_schedule=[0, 0.5])
    with pytest.raises(ValueError, match=r"mask_schedule must be \[start, end\]"):
        MaskedPSN(4, mask_schedule=[0.5, 0.1])


@pytest.mark.parametrize("backend", ["gemm", "conv", "shift", "auto"])
@pytest.mark.parametrize("T", [1, 3, 9])
def test_sliding_psn_equals_its_toeplitz_psn(backend: str, T: int) -> None:
    torch.manual_seed(4)
    sliding = SlidingPSN(k=4, init="kaiming", backend=backend, v_th=0.1).double()
    x = torch.randn(T, 2, 3, dtype=F64)
    psn = PSN(T).double()
    with torch.no_grad():
        psn.weight.copy_(sliding.toeplitz(T))
        psn.threshold.fill_(float(sliding.threshold))
    torch.testing.assert_close(sliding.charge(x) - sliding.threshold, psn.membrane(x))
    assert torch.equal(sliding(x), psn(x))


def test_sliding_psn_streams_in_chunks_and_steps() -> None:
    torch.manual_seed(5)
    sliding = SlidingPSN(k=3, init="kaiming", v_th=0.0).double()
    x = torch.randn(7, 2, 4, dtype=F64)
    whole, _ = sliding.run(x)
    first, state = sliding.run(x[:1])
    second, state = sliding.run(x[1:4], state)
    third, _ = sliding.run(x[4:], state)
    assert torch.equal(torch.cat([first, second, third]), whole)
    state = None
    for t in range(7):
        out, state = sliding.step(x[t], state)
        assert torch.equal(out, whole[t])
    with pytest.raises(ValueError, match="k-1 = 2"):
        sliding.run(x, (x[0],))


def test_sliding_psn_initialisations_and_backend_rule() -> None:
    exp = SlidingPSN(k=3, init="exp")
    assert exp.weight.data.tolist() == [0.25, 0.5, 1.0]
    lif = SlidingPSN(k=3, init="lif", tau=2.0)
    torch.testing.assert_close(lif.weight.data, torch.tensor([0.125, 0.25, 0.5]))
    assert sliding_backend(64, 4) == "gemm"
    assert sliding_backend(1024, 4) == "shift"
    with pytest.raises(ValueError, match="backend"):
        SlidingPSN(backend="fft")
    with pytest.raises(ValueError, match="k must be"):
        SlidingPSN(k=0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_parameters_are_refused(bad):
    for build, name in [
        (lambda: PSN(4, tau=bad), "tau"),
        (lambda: PSN(4, init="kaiming", tau=bad), "tau"),
        (lambda: PSN(4, v_th=bad), "v_th"),
        (lambda: MaskedPSN(4, v_th=bad), "v_th"),
        (lambda: SlidingPSN(tau=bad), "tau"),
        (lambda: SlidingPSN(v_th=bad), "v_th"),
    ]:
        with pytest.raises(ValueError, match=f"{name} must be a finite number"):
            build()
    with pytest.raises(ValueError, match="mask progress lambda must be a number in"):
        MaskedPSN(4, mask_progress=bad)


def test_non_finite_input_is_refused():
    x = torch.rand(4, 2, 3)
    x[2, 1, 0] = float("nan")
    at = r"contains NaN at index \[2, 1, 0\]"
    for neuron in (PSN(4), MaskedPSN(4, k=2, mask_progress=1.0), SlidingPSN(k=2)):
        with pytest.raises(ValueError, match=f"input to {type(neuron).__name__} layer {at}"):
            neuron(x)
        with pytest.raises(ValueError, match=at):
            neuron.run(x)
    sliding = SlidingPSN(k=3)
    _, state = sliding.run(torch.rand(2, 2, 3))
    with pytest.raises(ValueError, match="input to SlidingPSN layer contains NaN"):
        sliding.run(x, state)  # streaming, too
    with pytest.raises(ValueError, match="input to SlidingPSN layer contains NaN"):
        sliding.step(x[2], state)
