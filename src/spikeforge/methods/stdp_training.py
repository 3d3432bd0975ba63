r"""Unsupervised STDP training with a fitted readout: ``train.method=stdp``, for the
``stdp_wta`` model (:mod:`spikeforge.models.stdp_wta`).

The rule is the pair-based STDP window that the snnTorch tutorial paper (Eshraghian et
al., Proc. IEEE 2023) presents and :func:`~spikeforge.methods.stdp.stdp_update`
implements with traces: for every pair of a presynaptic spike at ``t_pre`` and a
postsynaptic one at ``t_post``

.. math::

    ΔW_{ji} = A_+ λ_{pre}^{t_{post} - t_{pre}}\ (t_{pre} ≤ t_{post}),\qquad
    ΔW_{ji} = -A_- λ_{post}^{t_{pre} - t_{post}}\ (t_{post} < t_{pre}),

``λ = exp(-1/τ)``, i.e. ``ΔW = A₊ x_pre S_post − A₋ x_post S_pre`` with the traces
``x[t] = λ x[t-1] + S[t]``, summed over the steps and averaged over the batch. It runs in
the network of Diehl & Cook (Frontiers 2015): Poisson input → one layer of excitatory LIF
neurons with adaptive thresholds, a winner-take-all standing in for their inhibitory
population, and every neuron's incoming weights renormalised to a fixed sum. Why this
combination: the rule is the one the tutorial shows and this library tests against hand
values; on its own, pair STDP with rate-coded input is nearly balanced (a pixel's
potentiation and depression both grow with its rate), so it is the competition (only the
winner has postsynaptic spikes, so only its synapses change), the normalisation (a
growing synapse takes weight from the neuron's others: Hebbian learning with a fixed
budget moves a neuron's weights towards the inputs it wins, competitive learning) and the
homeostasis (a frequent winner's threshold rises, so every neuron gets patterns to learn)
that turn it into feature learning — Diehl & Cook's own rule (a presynaptic trace minus a
target, weight-dependent) bounds the weights itself; here the normalisation does.

Per training batch (``inputs`` ``[T, B, ...]`` spikes, e.g. ``data.encoder=poisson``):

1. run the network with the current ``W`` and ``θ``: WTA spikes ``S`` ``[T, B, N]``;
2. while learning: ``W ← normalise(max(W + stdp_update(x, S), 0))`` (``x`` the input
   spikes flattened per step, the amplitudes and time constants the method's options)
   and the homeostasis ``θ ← θ e^{-B/τ_θ} + θ₊ Σ S`` (:meth:`WTALIF.adapt`); the weights
   are fixed while a batch runs (batch-mode STDP: B samples presented in parallel, their
   updates averaged, as :func:`stdp_update` defines them);
3. the readout: the spike-count features ``c = Σ_t S[t] / T`` ``[B, N]`` (computed before
   the batch's update) and one-hot labels are added to the ridge-regression sums
   ``G = Σ [c,1]ᵀ[c,1]``, ``H = Σ [c,1]ᵀ y``, and ``[R, b]ᵀ = (G + λ n I')⁻¹ H`` (``n``
   samples so far this epoch, no penalty on the bias) is written into the model's readout.

The sums restart with every epoch. The last ``readout_epochs`` epochs (default 1) do not
learn: their pass over the training set with the final ``W`` and ``θ`` fits the readout
that the run ends with (least squares on the learned features of the whole training set;
during learning epochs it is refitted on features that drift as the weights learn, a
running estimate for the per-epoch test accuracy). ``learn=False`` never learns: the same
architecture and readout on the random, normalised initial weights (the baseline STDP
must beat).

State: ``W``, ``θ`` and the readout are the model's (its state dict); the regression sums
and the epoch they belong to are this method's buffers, so a run resumed mid-epoch
continues them bit-exactly. Evaluation runs the model alone (its fitted readout).

The trainer's optimiser gets no gradients (it skips the readout's parameters); the loss
reported is ``objective`` on the readout's output before the batch's update (``ce_membrane``:
cross-entropy of the mean scores).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import OBJECTIVES
from ..models.stdp_wta import STDPWTA
from .base import METHODS, Method
from .stdp import stdp_update


def _checked_model(model: nn.Module) -> STDPWTA:
    if isinstance(model, nn.parallel.DistributedDataParallel):
        raise ValueError("train.method=stdp runs in one process (it sets the weights itself)")
    if not isinstance(model, STDPWTA):
        raise ValueError(f"train.method=stdp needs model stdp_wta, got {type(model).__name__}")
    return model


@METHODS.register("stdp")
class STDPTraining(Method):
    """Unsupervised pair STDP with winner-take-all and a ridge readout (module docstring).

    Args:
        objective: the objective reported as the loss (nothing is differentiated).
        tau_pre, tau_post, a_plus, a_minus: :func:`stdp_update`'s options. The defaults
            (0.03 / 0.015) are larger and less balanced than :func:`stdp_update`'s (0.01 /
            0.0105): with rate-coded input a pixel's potentiation and depression per
            postsynaptic spike both grow with its rate, about ``(A₊ - A₋λ) r / (1 - λ)``
            net, which a near-balanced pair nearly cancels. Single-seed tuning on digits
            (seed 0, 100 neurons, 3 learning epochs + 1 readout epoch): 0.01 / 0.0105
            84.4 %, 0.03 / 0.0315 89.7 %, 0.03 / 0.015 86.4 %, 0.03 / 0 91.9 % — a few
            points at one seed; more neurons and more learning epochs mattered more
            (200 neurons, 5 epochs, 0.03 / 0.015: 93.6 %).
        readout_epochs: final epochs that only fit the readout (>= 1: the readout the run
            ends with is fitted on the final features).
        ridge: ``λ`` of the readout's ridge regression, per sample (> 0).
        learn: ``False`` — no STDP, no homeostasis (the random-feature baseline).
        anneal: scale the amplitudes linearly from 1 in the first epoch to
            ``1/learning_epochs`` in the last learning epoch.
    """

    #: The trainer must not call backward: the method sets the weights itself.
    backpropagates = True

    def __init__(
        self,
        objective: str = "ce_membrane",
        tau_pre: float = 20.0,
        tau_post: float = 20.0,
        a_plus: float = 0.03,
        a_minus: float = 0.015,
        readout_epochs: int = 1,
        ridge: float = 1e-3,
        learn: bool = True,
        anneal: bool = False,
    ) -> None:
        super().__init__()
        if not (isinstance(tau_pre, int | float) and isinstance(tau_post, int | float)):
            raise ValueError(f"tau_pre and tau_post must be numbers, got {tau_pre!r}, {tau_post!r}")
        if not (tau_pre > 0 and tau_post > 0):
            raise ValueError(f"time constants must be positive, got {tau_pre}, {tau_post}")
        if not (isinstance(a_plus, int | float) and isinstance(a_minus, int | float)):
            raise ValueError(f"a_plus and a_minus must be numbers, got {a_plus!r}, {a_minus!r}")
        if a_plus < 0 or a_minus < 0:
            raise ValueError(f"amplitudes must be >= 0, got {a_plus}, {a_minus}")
        if isinstance(readout_epochs, bool) or not isinstance(readout_epochs, int):
            raise ValueError(f"readout_epochs must be an int >= 1, got {readout_epochs!r}")
        if readout_epochs < 1:
            raise ValueError(f"readout_epochs must be an int >= 1, got {readout_epochs!r}")
        if not (isinstance(ridge, int | float) and ridge > 0):
            raise ValueError(f"ridge must be a positive number, got {ridge!r}")
        self.objective = OBJECTIVES.create(objective)
        self.tau_pre, self.tau_post = float(tau_pre), float(tau_post)
        self.a_plus, self.a_minus = float(a_plus), float(a_minus)
        self.readout_epochs = readout_epochs
        self.ridge = float(ridge)
        self.learn = bool(learn)
        self.anneal = bool(anneal)
        self.learning = self.learn  # this epoch's (set by on_epoch_start)
        self.rate = 1.0  # this epoch's amplitude factor
        self.backward: Callable[[torch.Tensor], None] = lambda loss: None  # set by the trainer
        # the ridge-regression sums of the epoch in progress (sized by prepare)
        self.register_buffer("gram", torch.zeros(0, 0, dtype=torch.float64))
        self.register_buffer("cross", torch.zeros(0, 0, dtype=torch.float64))
        self.register_buffer("samples", torch.zeros((), dtype=torch.int64))
        self.register_buffer("stats_epoch", torch.full((), -1, dtype=torch.int64))

    # -- the engine's hooks --------------------------------------------------------------
    def prepare(self, model: nn.Module, sample: Callable[[int], torch.Tensor]) -> None:
        """Size the regression sums for the model's neurons and classes."""
        net = _checked_model(model)
        n = net.neurons + 1
        self.gram = torch.zeros(n, n, dtype=torch.float64)
        self.cross = torch.zeros(n, net.num_classes, dtype=torch.float64)

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Learn in the first ``epochs - readout_epochs`` epochs; restart the regression
        sums when a new epoch begins (not when a run resumes inside one)."""
        learning_epochs = epochs - self.readout_epochs
        self.learning = self.learn and epoch < learning_epochs
        self.rate = 1.0 - epoch / learning_epochs if self.anneal and self.learning else 1.0
        if int(self.stats_epoch) != epoch:
            self.gram.zero_()
            self.cross.zero_()
            self.samples.zero_()
            self.stats_epoch.fill_(epoch)

    # -- one batch -----------------------------------------------------------------------
    def forward(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        net = _checked_model(model)
        if not torch.is_grad_enabled():  # evaluation: the model with its fitted readout
            output = net(inputs)
            return {"loss": self.objective(output, targets), "output": output}
        if torch.is_autocast_enabled(inputs.device.type):
            raise ValueError("train.method=stdp sets the weights itself: turn train.amp off")
        with torch.no_grad():
            spikes = net.forward_features(inputs)
            output = net.forward_head(spikes)
            loss = self.objective(output, targets)
            if self.learning:
                self.update(net, net.flatten_input(inputs), spikes)
            self.accumulate(spikes.mean(0), targets)
            self.fit_readout(net)
        return {"loss": loss, "output": output}

    def weight_update(self, pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
        """``stdp_update(pre [T, B, I], post [T, B, N])`` with this method's options (and
        the epoch's annealing factor)."""
        rate = self.rate
        return stdp_update(
            pre, post, self.tau_pre, self.tau_post, self.a_plus * rate, self.a_minus * rate
        )

    @torch.no_grad()
    def update(self, net: STDPWTA, pre: torch.Tensor, post: torch.Tensor) -> None:
        """One learning step: STDP on the weights (then normalised), homeostasis on θ."""
        net.apply_update(self.weight_update(pre, post))
        net.excitatory.adapt(post)

    @torch.no_grad()
    def accumulate(self, features: torch.Tensor, targets: torch.Tensor) -> None:
        """Add ``features`` ``[B, N]`` and their labels to the regression sums."""
        if self.gram.numel() == 0:
            raise RuntimeError("STDPTraining.prepare(model, ...) must run before training")
        x = torch.cat([features, torch.ones_like(features[:, :1])], 1).to(self.gram)
        y = F.one_hot(targets.long(), self.cross.shape[1]).to(self.cross)
        self.gram += x.T @ x
        self.cross += x.T @ y
        self.samples += features.shape[0]

    @torch.no_grad()
    def fit_readout(self, net: STDPWTA) -> None:
        """Solve the ridge regression of the sums so far into ``net.readout``."""
        if int(self.samples) == 0:
            return
        n = self.gram.shape[0]
        penalty = torch.full((n,), self.ridge * float(self.samples), dtype=self.gram.dtype)
        penalty[-1] = 0.0  # the bias is not penalised
        gram = self.gram + torch.diag(penalty.to(self.gram.device))
        gram[-1, -1] += 1e-12 * float(self.samples)  # keeps it solvable if no neuron fired
        coef = torch.linalg.solve(gram, self.cross)  # [N + 1, C]
        net.readout.weight.copy_(coef[:-1].T.to(net.readout.weight))
        net.readout.bias.copy_(coef[-1].to(net.readout.bias))
