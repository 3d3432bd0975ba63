"""SpikingBERT's spiking encoder: IF rates, the straight-through/implicit gradient of the
steady-state map, spiking attention and the operation counts (METHODS §12 Must test)."""

import math

import pytest
import torch

from spikeforge.models.spiking_bert import (
    SUBLAYERS,
    SpikingBert,
    SpikingBertLayer,
    additive_mask,
    if_step,
    mean_rates,
    operation_counts,
    solve_adjoint,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(**kwargs) -> SpikingBert:
    torch.manual_seed(0)
    options = {"hidden": 8, "layers": 2, "heads": 2, "intermediate": 12, "max_len": 8, "t_conv": 8}
    options.update(kwargs)
    return SpikingBert(30, num_classes=2, **options)


def batch(generator, b=3, n=6):
    tokens = torch.randint(4, 30, (b, n), generator=generator)
    mask = torch.ones(b, n)
    mask[0, 4:] = 0  # sample 0 has two padded positions
    tokens[0, 4:] = 0
    return tokens, mask


@pytest.mark.parametrize("t_conv", [4, 16, 125])
def test_if_rate_under_constant_current_is_clamp_within_one_over_t(t_conv):
    v_th = 1.5
    current = torch.linspace(-0.5, 2.0, 101, dtype=torch.float64)  # inside and outside [0, V_th]
    v, count = torch.zeros_like(current), torch.zeros_like(current)
    for _ in range(t_conv):
        s, v = if_step(v, current, v_th)
        count += s
    rate = count / t_conv
    expected = torch.clamp(current / v_th, 0, 1)
    assert (rate - expected).abs().max() <= 1 / t_conv + 1e-12
    assert torch.all(rate[current <= 0] == 0) and torch.all(rate[current >= v_th] == 1)


def test_embedding_neurons_fire_at_clamp_rate_in_the_model(generator):
    model = tiny(t_conv=32).double()
    tokens, mask = batch(generator)
    emb = model.embed(tokens)
    rates = model.simulate(emb, additive_mask(mask.double()))
    expected = torch.clamp(emb / model.v_th, 0, 1)
    assert (rates["emb"] - expected).abs().max() <= 1 / 32 + 1e-12
    assert set(rates) == {"emb", *(f"l{k}.{n}" for k in range(2) for n in SUBLAYERS)}


def test_forward_values_are_the_spiking_rates(generator):
    model = tiny().double()
    tokens, mask = batch(generator)
    out = model(tokens, mask)  # grad enabled: the straight-through path
    rates = model.simulate(model.embed(tokens), additive_mask(mask.double()))
    assert torch.equal(out.hidden[0], rates["emb"])
    for k in range(2):
        assert torch.equal(out.hidden[k + 1], rates[f"l{k}.output"])
    assert torch.equal(out.rates["l1.intermediate"], rates["l1.intermediate"])
    # the rates are multiples of 1/T_conv: they come from spike counts, not from f
    assert torch.equal(out.hidden[-1] * 8, torch.round(out.hidden[-1] * 8))
    with torch.no_grad():
        assert torch.equal(model(tokens, mask).hidden[-1], rates["l1.output"])


def test_backward_is_the_gradient_of_f_at_the_rates_last_sublayer(generator):
    """The last sub-layer's weights get clamp'(g/V_th)/V_th · ∂g, with g computed from
    the recorded rates of its inputs — not the gradient at f's own values."""
    model = tiny().double()
    tokens, mask = batch(generator)
    out = model(tokens, mask)
    weights = torch.randn(out.hidden[-1].shape, dtype=torch.float64, generator=generator)
    (out.hidden[-1] * weights).sum().backward()
    r = out.rates
    layer = model.layers[1]
    ln_w = layer.ln2.weight.detach().clone().requires_grad_(True)
    g = torch.nn.functional.layer_norm(
        layer.fc2(r["l1.intermediate"]) + r["l1.self_output"], (8,), ln_w, layer.ln2.bias, 1e-5
    )
    (torch.clamp(g / model.v_th, 0, 1) * weights).sum().backward()
    torch.testing.assert_close(layer.ln2.weight.grad, ln_w.grad, rtol=1e-12, atol=1e-12)
    assert layer.ln2.weight.grad.abs().sum() > 0


def test_backward_equals_autograd_of_f_where_the_rates_are_fs_values(generator):
    """``equilibrium="iterate"``: the rates are f's own outputs, so every parameter's
    gradient must be plain backpropagation through the clamp-ReLU network."""
    model = tiny(equilibrium="iterate").double()
    tokens, mask = batch(generator)
    out = model(tokens, mask)
    loss = out.logits.square().sum() + sum(s[s > -100].square().sum() for s in out.scores)
    grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
    emb = model.embed(tokens)
    ref_out, ref_scores = model.chain(emb, additive_mask(mask.double()), None, None)
    logits = model.classifier(torch.relu(ref_out["l1.output"][:, 0]))
    ref = logits.square().sum() + sum(s[s > -100].square().sum() for s in ref_scores)
    ref_grads = torch.autograd.grad(ref, list(model.parameters()), allow_unused=True)
    for a, b in zip(grads, ref_grads, strict=True):
        if b is None:
            assert a is None or a.abs().max() == 0
        else:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert model.solves == 0  # no feedback: no adjoint solve, x = ∂L/∂a*


def test_feedback_fixed_point_gradient_equals_unrolled_differentiation(generator):
    model = tiny(
        feedback=True, equilibrium="iterate", feedback_bound=0.1, solver_iters=200, tol=1e-13
    ).double()
    tokens, mask = batch(generator)
    out = model(tokens, mask)
    weights = torch.randn(out.logits.shape, dtype=torch.float64, generator=generator)
    loss = (out.logits * weights).sum() + out.hidden[1].square().sum()
    loss.backward()
    implicit = {n: p.grad.clone() for n, p in model.named_parameters()}
    assert model.solves == 1 and model.unconverged_solves == 0 and model.last_solver_iters > 2
    model.zero_grad()
    # unrolled: iterate z <- f_N(z) from 0 with the graph, then read the outputs at z
    emb, mask_add = model.embed(tokens), additive_mask(mask.double())
    z = torch.zeros_like(emb)
    for _ in range(60):
        z = model.chain(emb, mask_add, None, z)[0]["l1.output"]
    ref_out, _ = model.chain(emb, mask_add, None, z)
    logits = model.classifier(torch.relu(ref_out["l1.output"][:, 0]))
    ((logits * weights).sum() + ref_out["l0.output"].square().sum()).backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(implicit[name], p.grad, rtol=1e-7, atol=1e-9, msg=name)
    assert implicit["feedback.weight"].abs().sum() > 0


def test_without_feedback_the_solve_returns_the_incoming_gradient():
    # J_f = 0 (the output does not depend on the fed-back variable): x = ∂L/∂a*
    z0 = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    f0 = 2.0 * torch.ones(4, 3, dtype=torch.float64, requires_grad=True) + 0 * z0
    grad = torch.randn(4, 3, dtype=torch.float64)
    w, iters, ok = solve_adjoint(f0, z0, grad, 20, 1e-12)
    assert ok and iters == 1 and torch.equal(w, grad)
    # a linear contraction f = A z: w solves w = grad + Aᵀ w exactly
    a = torch.tensor([[0.3, 0.1], [-0.2, 0.4]], dtype=torch.float64)
    z = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    g = torch.randn(5, 2, dtype=torch.float64)
    w, _, ok = solve_adjoint(z @ a.T, z, g, 200, 1e-14)
    expected = torch.linalg.solve(torch.eye(2, dtype=torch.float64) - a.T, g.T).T
    assert ok
    torch.testing.assert_close(w, expected, rtol=1e-10, atol=1e-12)


def test_attention_reads_analog_q_and_spiking_k_v(generator, monkeypatch):
    model = tiny().double()
    tokens, mask = batch(generator)
    seen = []
    original_scores, original_attention = SpikingBertLayer.scores, SpikingBertLayer.attention

    def scores(self, s_in, s_k, mask_add):
        seen.append(("k", s_k, self.query(s_in)))
        return original_scores(self, s_in, s_k, mask_add)

    def attention(self, sc, s_v):
        seen.append(("v", s_v, None))
        return original_attention(self, sc, s_v)

    monkeypatch.setattr(SpikingBertLayer, "scores", scores)
    monkeypatch.setattr(SpikingBertLayer, "attention", attention)
    model.simulate(model.embed(tokens), additive_mask(mask.double()))
    # (K, V) × layers × steps × batch rows (the steps of a chunk come folded into rows)
    assert sum(spikes.shape[0] for _, spikes, _ in seen) == 2 * 2 * 8 * tokens.shape[0]
    for _, spikes, _ in seen:
        assert torch.all((spikes == 0) | (spikes == 1))
    queries = torch.cat([q.flatten() for kind, _, q in seen if kind == "k"])
    assert ((queries != 0) & (queries != 1)).float().mean() > 0.9  # analog


def test_masked_keys_get_zero_weight_and_padding_cannot_leak(generator):
    model = tiny().double()
    tokens, mask = batch(generator)
    layer = model.layers[0]
    s_in = (torch.rand(3, 6, 8, generator=generator, dtype=torch.float64) > 0.5).double()
    s_k = (torch.rand(3, 6, 8, generator=generator, dtype=torch.float64) > 0.5).double()
    weights = torch.softmax(layer.scores(s_in, s_k, additive_mask(mask.double())), -1)
    assert torch.all(weights[0, :, :, 4:] == 0)  # exactly zero, not small
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 6, dtype=torch.float64))
    # other tokens at padded positions leave every real position's rates unchanged
    out = model(tokens, mask)
    changed = tokens.clone()
    changed[0, 4:] = torch.tensor([7, 9])
    again = model(changed, mask)
    for name, r in out.rates.items():
        assert torch.equal(r[0, :4], again.rates[name][0, :4]), name


def test_operation_counts_match_a_hand_computation():
    model = tiny(layers=1, t_conv=4)
    mask = torch.tensor([[1.0, 1, 1, 0], [1, 1, 1, 1]])
    rates = {"emb": torch.full((2, 4, 8), 0.5)}
    for n in SUBLAYERS:
        width = 12 if n == "intermediate" else 8
        rates[f"l0.{n}"] = torch.full((2, 4, width), 0.25)
    counts = operation_counts(model, rates, mask)
    h, i = 8, 12
    ops_per = {3: None, 4: None}
    snn = ann = 0.0
    for n in (3, 4):
        parts = [
            (0.5, 3 * n * h * h),
            (0.25, n * n * h),
            (0.25, n * n * h),
            (0.25, n * h * h),
            (0.25, n * h * i),
            (0.25, n * i * h),
        ]
        snn += sum(r * 4 * o for r, o in parts)
        ann += sum(o for _, o in parts)
        ops_per[n] = ann
    assert math.isclose(counts["synaptic_ops"], snn) and math.isclose(counts["ann_ops"], ann)
    assert math.isclose(counts["norm_ops"], snn / ann)
    assert math.isclose(counts["energy_ratio"], 5.1 * ann / snn)
    assert math.isclose(counts["snn_energy_uj"], (0.9 * snn + 4.6 * 2 * 8 * 2) * 1e-6)
    silent = {k: torch.zeros_like(v) for k, v in rates.items()}
    assert operation_counts(model, silent, mask)["synaptic_ops"] == 0
    assert mean_rates(rates, mask)["emb"] == pytest.approx(0.5)


def test_bad_input_is_refused_with_a_clear_message():
    model = tiny()
    with pytest.raises(ValueError, match="int64"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="max_len"):
        model(torch.zeros(2, 9, dtype=torch.int64))
    with pytest.raises(ValueError, match="mask must match"):
        model(torch.zeros(2, 3, dtype=torch.int64), torch.ones(2, 4))
    with pytest.raises(ValueError, match="multiple of heads"):
        SpikingBert(30, hidden=10, heads=3)
    with pytest.raises(ValueError, match="t_conv"):
        SpikingBert(30, t_conv=0)


def test_heads_read_the_cls_rates_or_their_mean_over_real_tokens(generator):
    tokens, mask = batch(generator)
    for pool in ("cls", "mean"):
        model = tiny(pool=pool).double()
        with torch.no_grad():
            out = model(tokens, mask)
        last = out.hidden[-1]
        if pool == "cls":
            pooled = last[:, 0]
        else:  # sample 0 has 4 real tokens: its padded positions must not count
            pooled = torch.stack([last[0, :4].mean(0), last[1].mean(0), last[2].mean(0)])
        torch.testing.assert_close(out.logits, model.classifier(torch.relu(pooled)))
    with pytest.raises(ValueError, match="pool"):
        tiny(pool="max")
    assert torch.all(tiny().word.weight[0] == 0)  # [PAD]'s embedding


def _stepwise_rates(model: SpikingBert, emb, mask_add, steps: int) -> dict[str, torch.Tensor]:
    """The simulation as the paper's code runs it: step by step, every sub-layer in order."""
    v: dict[str, torch.Tensor] = {}
    counts: dict[str, torch.Tensor] = {}

    def fire(name, current):
        s, v[name] = if_step(v.get(name, torch.zeros_like(current)), current, model.v_th)
        counts[name] = counts[name] + s if name in counts else s
        return s

    for _ in range(steps):
        s = fire("emb", emb)
        for k, layer in enumerate(model.layers):
            outs, _ = layer.currents(s, mask_add, lambda i, c, k=k: fire(f"l{k}.{SUBLAYERS[i]}", c))
            s = outs[-1]
    return {name: c / steps for name, c in counts.items()}


@pytest.mark.parametrize("steps", [5, 16, 37])  # within one chunk, exactly one, 16 + 16 + 5
def test_chunked_simulation_gives_the_step_by_step_rates_bit_for_bit(generator, steps):
    """Without feedback the simulation runs sub-layer by sub-layer over chunks of steps;
    every sub-layer's rates equal the step-by-step loop's exactly (with padding)."""
    model = tiny(v_th=0.7)
    tokens, mask = batch(generator)
    with torch.no_grad():
        emb = model.embed(tokens) * 3  # currents large enough for every sub-layer to fire
        mask_add = additive_mask(mask)
        expected = _stepwise_rates(model, emb, mask_add, steps)
        got = model.simulate(emb, mask_add, steps)
    assert got.keys() == expected.keys()
    for name, rates in expected.items():
        assert torch.equal(got[name], rates), name
    assert all(0 < float(r.mean()) < 1 for r in got.values())  # the check is not vacuous
