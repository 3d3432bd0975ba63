r"""SpikingBERT's spiking encoder (Bal & Sengupta, AAAI 2024; METHODS §12, as the official
code builds it) and the steady-state map that trains it.

**Time axis.** The data has none: a batch is ``tokens [B, L]`` with ``mask [B, L]``. The
model makes its own: the (LayerNorm'd) embeddings are a constant input current for
``t_conv`` simulation steps, every spiking sub-layer holds IF neurons whose spikes at step
``t`` are ``[B, L, H]``, and a sub-layer's output is its average spiking rate
``a = (1/T_conv) Σ_t s[t]`` — a ``[T_conv, B, L, H]`` spike train reduced over ``T``.

**Neurons.** IF with soft reset, per step ``u += I; s = 1[u ≥ V_th]; u −= V_th·s``
(γ = 1, as released). Within a step the sub-layers update in order, each reading the
spikes its inputs emitted in the same step. Without feedback nothing flows back in time
between sub-layers, so the simulation runs sub-layer by sub-layer over a chunk of
``SIM_CHUNK`` steps at once (the chunk folded into the batch for the matrix products,
the IF scan fused): the same spikes as the step-by-step loop (tested bit for bit), in
fewer, larger matrix products.

**Six spiking sub-layers per encoder layer** (input spikes ``s_in``):
K ``W_K s_in + b``; V ``W_V s_in + b``; attention
``softmax((W_Q s_in + b)·s_Kᵀ/√d_h + mask)·s_V`` (Q analog, K and V spike trains,
mask −10000 on padded keys); self-output ``LN(W_O s_att + b + s_in)``; intermediate
``GELU(W_1 s_so + b)``; output ``LN(W_2 s_int + b + s_so)``. Layer 0's neurons take the
embeddings. Classifier ``Linear(ReLU(a_last[:, 0]))`` (the ``[CLS]`` position's rates;
``pool="mean"``: the mean of ``a_last`` over real tokens instead — from scratch, the
``[CLS]`` head did not learn SST-2 at all in our short runs, the mean did).

**Training without surrogate gradients.** The steady-state map ``f`` is the clamp-ReLU
network of the same structure (``a_0 = clamp(Emb/V_th, 0, 1)``, every sub-layer
``a = clamp(g(a_inputs)/V_th, 0, 1)``). In training each sub-layer's output has the
SNN's spiking rate as its value and the gradient of ``f`` at those rates as its backward
(``rate + (f_i − f_i.detach())``: forward exactly the rate). Without feedback the implicit
solve ``x = J_fᵀ x + ∂L/∂a*`` is ``x = ∂L/∂a*`` (``J_f = 0``). With ``feedback=True`` the
last layer's spikes feed back into layer 0's current through ``F`` (``Emb + F s_N[t−1]``),
``a_N* = f(a_N*)`` is a real fixed point and its gradient is solved by iteration
(:func:`.equilibrium.solve_adjoint`, the equilibrium layer's solver); an unconverged
solve falls back to the incoming gradient and is counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_choice
from ..functional.lif import LIFParameters, lif_sequence
from ..functional.state import LIFState
from .equilibrium import solve_adjoint

SUBLAYERS = ("key", "value", "attention", "self_output", "intermediate", "output")
EQUILIBRIA = ("spikes", "iterate")
POOLS = ("cls", "mean")
MASK_VALUE = -10000.0
SIM_CHUNK = 16  # simulation steps run sub-layer by sub-layer at once (memory ∝ chunk)


def additive_mask(mask: torch.Tensor) -> torch.Tensor:
    """``mask [B, L]`` (1 real, 0 padding) -> ``[B, 1, 1, L]``: 0 on real keys, −10000 on padded."""
    return (1.0 - mask)[:, None, None, :] * MASK_VALUE


def if_step(
    v: torch.Tensor, current: torch.Tensor, v_th: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """One IF step with soft reset: ``(spikes, membrane after reset)``; fires at ``≥``."""
    v = v + current
    s = (v >= v_th).to(current.dtype)
    return s, v - v_th * s


def straight_through(value: torch.Tensor, rate: torch.Tensor | None) -> torch.Tensor:
    """``rate`` as the forward value, the gradient of ``value`` as the backward (``value``
    itself when ``rate`` is None)."""
    if rate is None:
        return value
    return rate + (value - value.detach())


class SpikingBertLayer(nn.Module):
    """One encoder layer's weights and the currents ``g`` of its six sub-layers.

    Inputs and outputs are ``[B, L, H]`` (spikes in the simulation, rates in ``f``);
    attention scores ``[B, heads, L, L]``.
    """

    def __init__(self, hidden: int, heads: int, intermediate: int) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be a multiple of heads ({heads})")
        self.heads, self.head_dim = heads, hidden // heads
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.attn_out = nn.Linear(hidden, hidden)
        self.ln1 = nn.LayerNorm(hidden)
        self.fc1 = nn.Linear(hidden, intermediate)
        self.fc2 = nn.Linear(intermediate, hidden)
        self.ln2 = nn.LayerNorm(hidden)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)

    def scores(self, s_in: torch.Tensor, s_k: torch.Tensor, mask_add: torch.Tensor) -> torch.Tensor:
        """Pre-softmax scores ``(W_Q s_in + b)·s_Kᵀ/√d_h + mask`` ``[B, heads, L, L]``:
        Q analog, K the key sub-layer's spikes (or rates)."""
        q, k = self._heads(self.query(s_in)), self._heads(s_k)
        return q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + mask_add

    def attention(self, scores: torch.Tensor, s_v: torch.Tensor) -> torch.Tensor:
        """``softmax(scores)·s_V`` ``[B, L, H]`` (V: the value sub-layer's spikes)."""
        context = torch.softmax(scores, dim=-1) @ self._heads(s_v)
        b, _, n, _ = context.shape
        return context.transpose(1, 2).reshape(b, n, -1)

    def currents(
        self, s_in: torch.Tensor, mask_add: torch.Tensor, fire: object
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The six sub-layers in order; ``fire(i, current)`` turns sub-layer ``i``'s input
        current into its output (IF spikes in the simulation, clamp rates in ``f``).
        Returns the six outputs and the attention scores."""
        s_k = fire(0, self.key(s_in))
        s_v = fire(1, self.value(s_in))
        scores = self.scores(s_in, s_k, mask_add)
        s_att = fire(2, self.attention(scores, s_v))
        s_so = fire(3, self.ln1(self.attn_out(s_att) + s_in))
        s_int = fire(4, F.gelu(self.fc1(s_so)))
        s_out = fire(5, self.ln2(self.fc2(s_int) + s_so))
        return [s_k, s_v, s_att, s_so, s_int, s_out], scores


@dataclass
class SpikingBertOutput:
    """What :class:`SpikingBert` returns.

    ``logits [B, C]``; ``hidden``: ``L + 1`` tensors ``[B, L_tok, H]`` (the embedding
    neurons' rates, then each layer's output rates); ``scores``: one ``[B, heads, L_tok,
    L_tok]`` per layer, pre-softmax, from ``f`` (with the −10000 mask added); ``rates``:
    every sub-layer's rates ``[B, L_tok, ·]`` by name ``"emb"``, ``"l{k}.{sublayer}"``.
    """

    logits: torch.Tensor
    hidden: list[torch.Tensor]
    scores: list[torch.Tensor]
    rates: dict[str, torch.Tensor] = field(default_factory=dict)


class SpikingBert(nn.Module):
    """SpikingBERT student; see the module docstring.

    Args:
        vocab_size, num_classes: sizes.
        hidden, layers, heads, intermediate, max_len: the encoder's shape.
        t_conv: simulation steps (no graph).
        v_th: IF threshold (also the clamp's scale in ``f``).
        feedback: feed the last layer's spikes back into layer 0 through ``F``.
        equilibrium: ``"spikes"`` (simulate; the model) or ``"iterate"`` (``f``'s exact
            fixed point by iteration, no spikes: analysis and tests).
        solver_iters, tol: the fixed-point iterations (feedback) and their tolerance.
        feedback_bound: ``F`` is used scaled down to this spectral norm (keeps the
            feedback loop contractive).
        pool: ``"cls"`` (the paper's head on ``a_last[:, 0]``) or ``"mean"`` (over real
            tokens).
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int = 2,
        hidden: int = 128,
        layers: int = 2,
        heads: int = 4,
        intermediate: int = 256,
        max_len: int = 64,
        t_conv: int = 16,
        v_th: float = 1.0,
        feedback: bool = False,
        equilibrium: str = "spikes",
        solver_iters: int = 50,
        tol: float = 1e-6,
        feedback_bound: float = 0.1,
        pool: str = "cls",
    ) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("layers", layers), ("t_conv", t_conv),
                            ("max_len", max_len), ("solver_iters", solver_iters)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not v_th > 0:
            raise ValueError(f"v_th must be positive, got {v_th!r}")
        self.equilibrium = check_choice(equilibrium, "equilibrium", EQUILIBRIA)
        self.t_conv, self.v_th, self.max_len = t_conv, float(v_th), max_len
        self.solver_iters, self.tol = solver_iters, float(tol)
        self.pool = check_choice(pool, "pool", POOLS)
        self.word = nn.Embedding(vocab_size, hidden, padding_idx=0)
        self.position = nn.Embedding(max_len, hidden)
        # BERT's N(0, 0.02): with torch's N(0, 1) an Adam step moves an embedding ~50×
        # less relative to its size, and from scratch the students did not learn at all
        # (measured on 6,000 SST-2 phrases; see the pipeline's docstring)
        for table in (self.word, self.position):
            nn.init.normal_(table.weight, std=0.02)
        with torch.no_grad():
            self.word.weight[0].zero_()  # [PAD]
        self.emb_norm = nn.LayerNorm(hidden)
        self.layers = nn.ModuleList(
            SpikingBertLayer(hidden, heads, intermediate) for _ in range(layers)
        )
        self.feedback = nn.Linear(hidden, hidden, bias=False) if feedback else None
        self.feedback_bound = float(feedback_bound)
        self.classifier = nn.Linear(hidden, num_classes)
        self.solves = 0  # feedback adjoint solves, and how many fell back (not converged)
        self.unconverged_solves = 0
        self.last_solver_iters = 0

    # -- pieces -------------------------------------------------------------------------
    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens [B, L]`` -> the embedding current ``LN(word + position)`` ``[B, L, H]``."""
        if tokens.dim() != 2 or tokens.dtype != torch.int64:
            raise ValueError(
                f"tokens must be int64 [B, L], got {tokens.dtype} {tuple(tokens.shape)}"
            )
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"sequence length {tokens.shape[1]} exceeds max_len {self.max_len}")
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        return self.emb_norm(self.word(tokens) + self.position(positions))

    def feedback_weight(self) -> torch.Tensor:
        """``F`` ``[H, H]`` as used (scaled down to ``feedback_bound`` if above)."""
        assert self.feedback is not None
        w = self.feedback.weight
        sigma = torch.linalg.matrix_norm(w, ord=2)
        return w * torch.clamp(self.feedback_bound / sigma, max=1.0)

    def _input_current(self, emb: torch.Tensor, fb: torch.Tensor | None) -> torch.Tensor:
        if self.feedback is None or fb is None:
            return emb
        return emb + fb @ self.feedback_weight().T

    # -- the SNN ------------------------------------------------------------------------
    @torch.no_grad()
    def simulate(
        self, emb: torch.Tensor, mask_add: torch.Tensor, steps: int | None = None
    ) -> dict[str, torch.Tensor]:
        """Run the IF network ``steps`` (default ``t_conv``) steps on the constant current
        ``emb [B, L, H]``; returns every sub-layer's average spiking rate ``[B, L, ·]``."""
        steps = self.t_conv if steps is None else steps
        names = ["emb", *(f"l{k}.{n}" for k in range(len(self.layers)) for n in SUBLAYERS)]
        if self.feedback is None:
            return self._simulate_chunks(emb, mask_add, steps, names)
        v: dict[str, torch.Tensor] = {}
        counts: dict[str, torch.Tensor] = {}
        last: torch.Tensor | None = None  # the last layer's spikes of the previous step

        def fire(name: str, current: torch.Tensor) -> torch.Tensor:
            s, v[name] = if_step(v.get(name, torch.zeros_like(current)), current, self.v_th)
            counts[name] = counts[name] + s if name in counts else s
            return s

        for _ in range(steps):
            s = fire("emb", self._input_current(emb, last))
            for k, layer in enumerate(self.layers):
                outs, _ = layer.currents(
                    s, mask_add, lambda i, c, k=k: fire(f"l{k}.{SUBLAYERS[i]}", c)
                )
                s = outs[-1]
            last = s
        return {name: counts[name] / steps for name in names}

    def _simulate_chunks(
        self, emb: torch.Tensor, mask_add: torch.Tensor, steps: int, names: list[str]
    ) -> dict[str, torch.Tensor]:
        """:meth:`simulate` without feedback: ``SIM_CHUNK`` steps at a time, each sub-layer
        over the whole chunk (``[C·B, L, ·]`` through the weights, then one IF scan over
        ``C`` from the membrane the previous chunk left)."""
        params = LIFParameters(charge="if", v_th=self.v_th, reset="subtract")
        v: dict[str, torch.Tensor] = {}
        counts: dict[str, torch.Tensor] = {}
        for start in range(0, steps, SIM_CHUNK):
            c = min(SIM_CHUNK, steps - start)

            def fire(name: str, current: torch.Tensor, c: int = c) -> torch.Tensor:
                seq = current.reshape(c, -1, *current.shape[1:])  # [C, B, L, ·]
                state = LIFState(v[name]) if name in v else None
                s, state = lif_sequence(seq, state, params)
                v[name] = state.v
                total = s.sum(0)  # counts of 0/1 spikes: exact in any order
                counts[name] = counts[name] + total if name in counts else total
                return s.reshape(current.shape)

            s = fire("emb", emb.expand(c, *emb.shape).reshape(-1, *emb.shape[1:]))
            chunk_mask = mask_add.expand(c, *mask_add.shape).reshape(-1, *mask_add.shape[1:])
            for k, layer in enumerate(self.layers):
                outs, _ = layer.currents(
                    s, chunk_mask, lambda i, cur, k=k: fire(f"l{k}.{SUBLAYERS[i]}", cur)
                )
                s = outs[-1]
        return {name: counts[name] / steps for name in names}

    # -- the steady-state map f ---------------------------------------------------------
    def chain(
        self,
        emb: torch.Tensor,
        mask_add: torch.Tensor,
        rates: dict[str, torch.Tensor] | None,
        fb: torch.Tensor | None,
    ) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
        """``f`` applied once through every sub-layer: each output is ``clamp(g/V_th, 0,
        1)`` of its inputs, or (``rates`` given) that sub-layer's spiking rate with ``f``'s
        gradient (:func:`straight_through`). ``fb``: the last layer's rates fed back.
        Returns ``(outputs by name, scores per layer)``."""
        out: dict[str, torch.Tensor] = {}

        def clamp(name: str, current: torch.Tensor) -> torch.Tensor:
            value = torch.clamp(current / self.v_th, 0.0, 1.0)
            out[name] = straight_through(value, None if rates is None else rates[name])
            return out[name]

        a = clamp("emb", self._input_current(emb, fb))
        scores = []
        for k, layer in enumerate(self.layers):
            outs, sc = layer.currents(
                a, mask_add, lambda i, c, k=k: clamp(f"l{k}.{SUBLAYERS[i]}", c)
            )
            a = outs[-1]
            scores.append(sc)
        return out, scores

    def _last(self) -> str:
        return f"l{len(self.layers) - 1}.output"

    @torch.no_grad()
    def iterate_fixed_point(
        self, emb: torch.Tensor, mask_add: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``f``'s outputs at its fixed point ``a_N = f(a_N)`` (iterated from 0; one pass
        without feedback)."""
        fb = None if self.feedback is None else torch.zeros_like(emb)
        for _ in range(self.solver_iters if self.feedback is not None else 1):
            out, _ = self.chain(emb, mask_add, None, fb)
            new = out[self._last()]
            done = fb is None or float((new - fb).abs().max()) < self.tol
            fb = new
            if done:
                break
        out, _ = self.chain(emb, mask_add, None, fb)
        return out

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> SpikingBertOutput:
        """``tokens [B, L]``, ``mask [B, L]`` (1 real, 0 padding; default all real)."""
        if mask is None:
            mask = torch.ones(tokens.shape, dtype=torch.get_default_dtype(), device=tokens.device)
        if mask.shape != tokens.shape:
            raise ValueError(
                f"mask must match tokens {tuple(tokens.shape)}, got {tuple(mask.shape)}"
            )
        emb = self.embed(tokens)
        mask_add = additive_mask(mask.to(emb.dtype))
        if self.equilibrium == "spikes":
            rates = self.simulate(emb, mask_add)
        else:
            rates = self.iterate_fixed_point(emb, mask_add)
        if not torch.is_grad_enabled():
            _, scores = self.chain(
                emb, mask_add, rates, rates[self._last()] if self.feedback is not None else None
            )
            return self._output(rates, scores, rates, mask)
        fb = None
        if self.feedback is not None:
            z_star = rates[self._last()]
            # fb = f_N(z*, θ): value z*, graph ∂f/∂θ; the hook turns the gradient arriving
            # at the fed-back rates into the fixed point's, w = (I − J_fᵀ)⁻¹ ∂L/∂z*
            first, _ = self.chain(emb, mask_add, rates, z_star)
            fb = first[self._last()]
            if fb.requires_grad:
                z0 = z_star.detach().clone().requires_grad_(True)
                with torch.enable_grad():
                    f0 = self.chain(emb.detach(), mask_add, rates, z0)[0][self._last()]
                fb.register_hook(lambda g: self._adjoint(f0, z0, g))
        out, scores = self.chain(emb, mask_add, rates, fb)
        return self._output(out, scores, rates, mask)

    def _adjoint(self, f0: torch.Tensor, z0: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        # J_f's products use the weights' current values (the graph of f0 holds them)
        w, iters, ok = solve_adjoint(f0, z0, grad, self.solver_iters, self.tol)
        self.solves += 1
        self.unconverged_solves += 0 if ok else 1
        self.last_solver_iters = iters
        return w

    def _output(
        self,
        out: dict[str, torch.Tensor],
        scores: list[torch.Tensor],
        rates: dict[str, torch.Tensor],
        mask: torch.Tensor,
    ) -> SpikingBertOutput:
        hidden = [out["emb"], *(out[f"l{k}.output"] for k in range(len(self.layers)))]
        if self.pool == "cls":
            pooled = hidden[-1][:, 0]
        else:  # the mean over real tokens
            m = mask.to(hidden[-1].dtype)[..., None]
            pooled = (hidden[-1] * m).sum(1) / m.sum(1)
        logits = self.classifier(torch.relu(pooled))
        return SpikingBertOutput(logits, hidden, scores, {k: v.detach() for k, v in rates.items()})


E_MAC_PJ, E_AC_PJ = 4.6, 0.9  # 45 nm (Horowitz 2014), as analysis/energy.py


def operation_counts(
    model: SpikingBert, rates: dict[str, torch.Tensor], mask: torch.Tensor
) -> dict[str, float]:
    """Synaptic operations of one batch from its spiking rates (METHODS §9, §10).

    Every matrix product of the encoder reads a spike train: ``W_K, W_V, W_Q, W_O, W_1,
    W_2`` (``n·d_in·d_out`` ops per sample of ``n`` real tokens), ``Q·s_Kᵀ`` and
    ``softmax·s_V`` (``n²·H``). On the SNN each op is an accumulate per input spike:
    ``ACs = Σ IFR·OPS`` with ``IFR = rate × T_conv`` (spikes per input neuron over the
    simulation); the ANN does every op once as a MAC. ``Norm#OPS = Σ IFR·OPS / Σ OPS`` and
    the ANN/SNN energy ratio ``e = (Norm#OPS / 5.1)⁻¹``. The classifier (analog input) is
    a MAC in both. LayerNorm, softmax and GELU are not counted (as the paper).
    """
    lengths = mask.sum(1)  # [B]
    hidden = model.classifier.in_features
    inter = model.layers[0].fc1.out_features

    def rate(name: str) -> torch.Tensor:  # [B] mean rate over real tokens and features
        r = rates[name].mean(-1) * mask
        return r.sum(1) / lengths

    snn = ann = 0.0
    for k in range(len(model.layers)):
        src = "emb" if k == 0 else f"l{k - 1}.output"
        p = f"l{k}."
        terms = [
            (src, 3 * lengths * hidden * hidden),  # W_Q, W_K, W_V read s_in
            (p + "key", lengths**2 * hidden),  # Q·s_Kᵀ
            (p + "value", lengths**2 * hidden),  # softmax·s_V
            (p + "attention", lengths * hidden * hidden),  # W_O
            (p + "self_output", lengths * hidden * inter),  # W_1
            (p + "intermediate", lengths * inter * hidden),  # W_2
        ]
        for name, ops in terms:
            snn += float((rate(name) * model.t_conv * ops).sum())
            ann += float(ops.sum())
    classifier = float(mask.shape[0] * hidden * model.classifier.out_features)
    norm_ops = snn / ann
    return {
        "synaptic_ops": snn,
        "ann_ops": ann,
        "norm_ops": norm_ops,
        "energy_ratio": 5.1 / norm_ops if norm_ops > 0 else math.inf,
        "snn_energy_uj": (E_AC_PJ * snn + E_MAC_PJ * classifier) * 1e-6,
        "ann_energy_uj": E_MAC_PJ * (ann + classifier) * 1e-6,
        "samples": float(mask.shape[0]),
    }


def mean_rates(rates: dict[str, torch.Tensor], mask: torch.Tensor) -> dict[str, float]:
    """Each sub-layer's firing rate (spikes per neuron per step) over real tokens."""
    m = mask[..., None]
    return {k: float((v * m).sum() / (m.sum() * v.shape[-1])) for k, v in rates.items()}
