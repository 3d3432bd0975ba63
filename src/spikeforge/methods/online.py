"""Online training through time: SLTT and SLTT-K (Meng et al., ICCV 2023), memory
independent of T.

BPTT keeps every time step's graph until the loss over the whole sequence is known, so its
memory grows with T. SLTT drops the temporal gradient path (the membrane recurrence and
every other state a neuron carries from step to step) and keeps only the spatial one
through each step; the loss is the mean over steps of a per-step loss, so each step's
gradient is complete as soon as the step has run. The model therefore runs one step at a
time, backpropagates that step's loss at once and frees its graph: gradients accumulate in
``.grad``, and peak memory is one step's graph whatever T is. SLTT-K backpropagates only
``k`` randomly chosen steps (the others run without a graph), each weighted ``1/k`` so that
the gradient is an unbiased estimate of SLTT's.

Any model built from time-major layers runs this way: :class:`StepwiseRunner` carries each
spiking neuron's state from one call to the next (detached), so ``model(x[t:t+1])`` is one
step. Neurons that need the whole sequence (PSN, masked PSN, PSU, ParaLIF) cannot, and are
refused with their names. Objectives must be per-step (``ce_membrane``, ``ce_per_step``,
``ce_rate``, ``mse_count``; on one step ``ce_membrane`` is ``ce_per_step``, so BPTT with
``ce_per_step`` trains on the same loss); first-spike-time objectives need the whole
sequence.

The method calls backward itself (through the trainer's ``backward``, which applies the AMP
loss scale); under DistributedDataParallel every backward but the last runs in
``no_sync()``, so gradients are averaged across processes once per batch. Evaluation (no
autograd) runs the whole sequence in one call, as BPTT does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..losses import OBJECTIVES
from ..neurons.base import SpikingNeuron
from .base import METHODS, Method

#: Objectives that are defined on a single time step's output.
PER_STEP_OBJECTIVES = ("ce_membrane", "ce_per_step", "ce_rate", "mse_count")


def _detached(state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """The state with every tensor cut from the graph (a NamedTuple keeps its type)."""
    values = (t.detach() for t in state)
    return type(state)(*values) if hasattr(state, "_fields") else tuple(values)


class StepwiseRunner:
    """Within ``with StepwiseRunner(model):``, each call ``model(x)`` with ``x``
    ``[t_chunk, B, ...]`` continues every spiking neuron from where the previous call left
    it; the carried state is detached (no gradient flows between calls). Leaving the block
    restores the neurons (the next plain call starts from rest again).

    Raises:
        ValueError: a neuron or module needs the whole sequence (names every one): a
            parallel neuron that does not stream, or a module marked
            ``runs_whole_sequence`` (converted IF neurons, e-prop's and the equilibrium
            networks, which keep time themselves).
    """

    def __init__(self, model: nn.Module) -> None:
        self.neurons = {
            name: m for name, m in model.named_modules() if isinstance(m, SpikingNeuron)
        }
        whole = [
            f"{name or '<model>'} ({type(m).__name__})"
            for name, m in model.named_modules()
            if getattr(m, "runs_whole_sequence", False)
            or (isinstance(m, SpikingNeuron) and not _streams(m))
        ]
        if whole:
            raise ValueError(
                "step-by-step training needs neurons that carry state from step to step, "
                f"but these compute the whole sequence at once: {', '.join(whole)}; use "
                "train.method=bptt for them"
            )
        self.states: dict[str, Any] = {}
        self._called: set[str] = set()

    def __enter__(self) -> StepwiseRunner:
        for name, neuron in self.neurons.items():
            neuron.forward = self._stepping_forward(name, neuron)  # instance attribute
        return self

    def __exit__(self, *exc: object) -> None:
        for neuron in self.neurons.values():
            neuron.__dict__.pop("forward", None)
        self.states.clear()

    def begin_step(self) -> None:
        """Mark the start of one model call (a neuron may run once per call)."""
        self._called.clear()

    def _stepping_forward(
        self, name: str, neuron: SpikingNeuron
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        def forward(x: torch.Tensor) -> torch.Tensor:
            if name in self._called:
                raise RuntimeError(
                    f"neuron {name!r} ran twice in one step; step-by-step training keeps "
                    "one state per neuron module, so a module must not be reused in a model"
                )
            self._called.add(name)
            out, state = neuron.run(x, self.states.get(name))
            self.states[name] = _detached(state)
            return out

        return forward


def _streams(neuron: SpikingNeuron) -> bool:
    """Whether ``neuron`` can continue a sequence from a carried state."""
    return getattr(neuron, "streaming", True)


def _no_sync(model: nn.Module, last: bool) -> contextlib.AbstractContextManager[Any]:
    """DDP's ``no_sync`` for every backward of a batch but the last; a no-op otherwise."""
    no_sync = getattr(model, "no_sync", None)
    return contextlib.nullcontext() if last or no_sync is None else no_sync()


@METHODS.register("sltt")
class SLTT(Method):
    """Spatial learning through time: per-step backward without temporal gradients.

    Args:
        objective: a per-step objective (:data:`PER_STEP_OBJECTIVES`), applied to each
            step's output ``[1, B, C]``; the loss is its mean over the T steps.
        k: SLTT-K — backpropagate only ``k`` steps chosen at random per batch (``None``:
            every step). The choice is seeded by ``seed`` and a per-batch counter kept in
            the method's state, so a resumed run draws the same steps.
        seed: seed of the step choice.
        objective_kwargs: the objective's options.
    """

    takes_seed = True  # SLTT-K draws its k steps from the run's seed

    #: The trainer must not call backward on the returned loss (it is detached).
    backpropagates = True

    def __init__(
        self,
        objective: str = "ce_membrane",
        k: int | None = None,
        seed: int = 0,
        **objective_kwargs: Any,
    ) -> None:
        super().__init__()
        if objective not in PER_STEP_OBJECTIVES:
            raise ValueError(
                f"sltt needs an objective defined on one time step, one of "
                f"{PER_STEP_OBJECTIVES}; got {objective!r} (it needs the whole sequence)"
            )
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ValueError(f"k (steps backpropagated per batch) must be an int >= 1, got {k!r}")
        self.objective = OBJECTIVES.create(objective, **objective_kwargs)
        self.k = k
        self.seed = int(seed)
        self.register_buffer("batches_seen", torch.zeros((), dtype=torch.int64))
        self.backward: Callable[[torch.Tensor], None] = lambda loss: loss.backward()

    def chosen_steps(self, T: int) -> torch.Tensor:
        """Boolean ``[T]``: which steps this batch backpropagates (all unless ``k < T``)."""
        chosen = torch.ones(T, dtype=torch.bool)
        if self.k is None or self.k >= T:
            return chosen
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(self.batches_seen))
        chosen[:] = False
        chosen[torch.randperm(T, generator=g)[: self.k]] = True
        return chosen

    def forward(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        T = inputs.shape[0]
        if not torch.is_grad_enabled():  # evaluation: the whole sequence at once
            output = model(inputs)
            return {"loss": self.sequence_loss(output, targets), "output": output}
        chosen = self.chosen_steps(T)
        weight = 1.0 / int(chosen.sum())
        last = int(chosen.nonzero().max())
        outputs, total = [], torch.zeros((), device=inputs.device)
        with contextlib.ExitStack() as stack:
            runners = [stack.enter_context(r) for r in self._runners(_unwrapped(model))]
            for t in range(T):
                for runner in runners:
                    runner.begin_step()
                with torch.set_grad_enabled(bool(chosen[t])), _no_sync(model, t == last):
                    out = model(inputs[t : t + 1])
                    out, loss = self._step_loss(runners, out, targets)
                    if chosen[t]:
                        self.backward(loss * weight)  # frees this step's graph
                outputs.append(out.detach())
                total = total + loss.detach()
        self.batches_seen += 1
        return {"loss": total / T, "output": torch.cat(outputs)}

    def _step_loss(
        self, runners: list[Any], out: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(output, loss)`` of one step; subclasses add terms their runners collect."""
        return out, self.objective(out, targets)

    def _runners(self, model: nn.Module) -> list[Any]:
        """Context managers active while the steps run; each has ``begin_step()``."""
        return [StepwiseRunner(model)]

    def sequence_loss(self, output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The loss the steps add up to: the objective's mean over ``output`` ``[T, B, C]``'s
        steps (what evaluation reports, and BPTT's counterpart of this method's loss)."""
        steps = [self.objective(output[t : t + 1], targets) for t in range(output.shape[0])]
        return torch.stack(steps).mean()


def _unwrapped(model: nn.Module) -> nn.Module:
    """The module whose neurons run (inside a DistributedDataParallel wrapper, if any)."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        return model.module
    return model
