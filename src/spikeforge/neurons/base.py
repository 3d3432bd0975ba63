"""Base class of spiking neuron modules: thin shells over the functional core.

Call contract (fixed, no flags change it):

- ``neuron(x)`` with ``x`` ``[T, B, ...]`` starts from rest and returns the output
  sequence ``[T, B, ...]`` — so neurons compose in a plain ``nn.Sequential``.
- ``neuron.run(x, state)`` returns ``(output [T, B, ...], final_state)``: carry the
  state into the next call to stream a long sequence in chunks.
- ``neuron.step(x_t, state)`` with ``x_t`` ``[B, ...]`` returns ``(output_t, state)``
  for online, one-step-at-a-time use.

A sequence has at least three dims ``[T, B, F...]``: a 2-D input to ``neuron(x)`` or
``run`` is refused (``ValueError``) rather than read as ``T = B`` — it is almost always
one step ``[B, F]`` of a batch (snnTorch's per-step call, ``spk, mem = lif(x_t, mem)``).
The message names the fixes: ``neuron.step(x_t, state)`` for one step with explicit
state, ``neuron(x.unsqueeze(0))`` for a one-step sequence, and ``x.unsqueeze(-1)`` for
a genuine ``[T, B]`` sequence of one neuron per sample (neurons act elementwise, so
the trailing size-1 feature dim changes nothing else).

Modules hold parameters and configuration only; state is always passed explicitly,
so nothing needs resetting between batches: :meth:`SpikingNeuron.reset` exists only so
that code written for SpikingJelly (``functional.reset_net``) or snnTorch runs, and does
nothing. The reset *mode* of the IF/LIF family is the ``reset_mode`` attribute (the
constructor argument stays ``reset=``). A state whose shape does not match the input
raises (it is never silently re-zeroed).

Non-finite input is refused: ``neuron(x)``, ``run`` and ``step`` raise ``ValueError``
("input to LIF layer contains NaN at index [t, b, ...] ...") when the input (or a
carried state) holds NaN or ±inf — otherwise a NaN would silently read as "no spike"
and stay in the membrane for the rest of the sequence. A state that turns non-finite
from finite input and state (a NaN parameter, a membrane overflowing its dtype) raises
too. See :func:`set_finite_check` for what the check costs and how to turn it off.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import torch
from torch import nn

from .._validation import check_finite_input, check_sequence, check_state_shape, sum_is_finite

#: Environment variable read once, at import: ``0``/``false``/``no``/``off`` turns the
#: non-finite input check off (see :func:`set_finite_check`).
CHECK_FINITE_ENV = "SPIKEFORGE_CHECK_FINITE"


def _env_enabled(value: str | None) -> bool:
    if value is None or value.strip() == "":
        return True
    flag = value.strip().lower()
    if flag in ("0", "false", "no", "off"):
        return False
    if flag in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{CHECK_FINITE_ENV} must be 0 or 1 (or true/false), got {value!r}")


_check_finite = _env_enabled(os.environ.get(CHECK_FINITE_ENV))

_SKIP = (
    f" (to skip this check for speed: {CHECK_FINITE_ENV}=0, or "
    f"spikeforge.neurons.set_finite_check(False))"
)
_OPT_OUT = (
    ". Refused: a NaN would silently read as 'no spike' and stay in the neuron's state; "
    "fix the data or the layer before this one" + _SKIP
)


def set_finite_check(enabled: bool) -> bool:
    """Turn the non-finite input check of every neuron on or off; returns the old setting.

    On by default (or as ``SPIKEFORGE_CHECK_FINITE`` says at import); skipped while
    ``torch.compile`` traces. Off, NaN input goes undetected: it reads as "no spike"
    and stays in the neuron's state.

    Cost: one sum and one host sync per call (NaN or inf anywhere makes a sum NaN or
    inf; only then is the input scanned entry by entry, to say where). Neurons whose
    state keeps any non-finite input to the end of the sequence
    (:attr:`SpikingNeuron.state_keeps_non_finite`: IF/LIF/PLIF/ALIF/CuBa/RLIF/LI) sum
    the final state ``[B, ...]`` instead of the input ``[T, B, ...]``, ``T`` times less
    work; the other neurons sum their input. Timed only ad hoc on a loaded 2-core
    machine, not by a benchmark: its cost relative to a fused LIF forward is not a
    recorded result.
    On a GPU the sync stalls the launch queue once per layer (not measured), the reason
    to turn the check off there when every microsecond counts.
    """
    global _check_finite
    if not isinstance(enabled, bool):
        raise TypeError(f"set_finite_check needs True or False, got {enabled!r}")
    previous, _check_finite = _check_finite, enabled
    return previous


def finite_check_enabled() -> bool:
    """Whether neurons refuse non-finite input (see :func:`set_finite_check`)."""
    return _check_finite


# torch.compiler.is_compiling exists from torch 2.3; before, the check's .item() only
# breaks the compiled graph there.
_is_compiling = getattr(torch.compiler, "is_compiling", lambda: False)


def _checking() -> bool:
    return _check_finite and not _is_compiling()


def check_neuron_input(neuron: nn.Module, x: torch.Tensor, layout: str) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN/inf (unless the check is turned off)."""
    if _checking():
        check_finite_input(x, f"input to {type(neuron).__name__} layer", layout, _OPT_OUT)


def check_neuron_sequence(neuron: nn.Module, x: Any) -> torch.Tensor:
    """Check ``x`` is a sequence ``[T, B, F...]`` for ``neuron(x)``/``run``; 2-D refused.

    A 2-D ``x`` is ambiguous — ``[T, B]`` or one step ``[B, F]`` — and read as a sequence
    it would silently run ``T = B`` steps, so it raises with the fixes for both readings.
    """
    name = type(neuron).__name__
    check_sequence(x, f"{name} input")
    if x.dim() == 2:
        rows, cols = x.shape
        raise ValueError(
            f"{name} input has shape {tuple(x.shape)}: a neuron call takes a sequence "
            f"[T, B, ...] (time first), and a 2-D input would run T={rows} time steps of a "
            f"batch of {cols}. If this is one time step [B, F] (snnTorch's per-step "
            f"call), use `out, state = neuron.step(x_t, state)` (state=None starts from "
            f"rest) or `neuron(x.unsqueeze(0))` for a one-step sequence; if it really is "
            f"[T, B] with one neuron per sample, pass `x.unsqueeze(-1)` ([T, B, 1])"
        )
    return x


def _fields(state: tuple[torch.Tensor, ...]) -> list[tuple[str, torch.Tensor]]:
    names = getattr(state, "_fields", None) or [str(i) for i in range(len(state))]
    return list(zip(names, state, strict=True))


class SpikingNeuron(nn.Module):
    """Subclasses implement :meth:`initial_state`, :meth:`_run` and :meth:`_step`."""

    #: True when NaN/inf anywhere in the input leaves the returned state non-finite: the
    #: state carries it to the end (no charge/fire/reset operation maps NaN or inf back to
    #: a finite number: ``NaN - NaN·0``, ``inf - inf`` are NaN). The finite check then sums
    #: the final state ``[B, ...]`` instead of the input ``[T, B, ...]`` and scans the
    #: input only when that sum is not finite. A subclass whose state can forget (e.g. a
    #: window of past inputs) must leave this False: its input is summed instead.
    state_keeps_non_finite = False

    def initial_state(self, x_t: torch.Tensor) -> NamedTuple:
        """Resting state for a step input of shape ``[B, ...]``."""
        raise NotImplementedError

    def _run(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError

    def _step(self, x_t: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[T, B, ...]`` -> output ``[T, B, ...]``, starting from rest."""
        return self.run(x)[0]

    def run(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Whole sequence with explicit state: ``x`` ``[T, B, ...]`` -> ``(out, state)``."""
        check_neuron_sequence(self, x)
        checking = _checking()
        if checking and not self.state_keeps_non_finite:
            check_neuron_input(self, x, "[T, B, ...]")
        self._check_parameter_shapes(x.shape[1:], sequence=True)
        given = state
        state = self.initial_state(x[0]) if state is None else state
        self._check_state(state, x.shape[1:], sequence=True)
        out, final = self._run(x, state)
        if checking and self.state_keeps_non_finite:
            self._check_final_state(x, "[T, B, ...]", given, final)
        return out, final

    def step(self, x_t: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """One time step: ``x_t`` ``[B, ...]`` -> ``(out_t [B, ...], state)``."""
        if not isinstance(x_t, torch.Tensor) or x_t.dim() < 1:
            raise ValueError(f"step input must be a tensor [B, ...], got {x_t!r:.60}")
        checking = _checking()
        if checking and not self.state_keeps_non_finite:
            check_neuron_input(self, x_t, "[B, ...]")
        self._check_parameter_shapes(x_t.shape, sequence=False)
        given = state
        state = self.initial_state(x_t) if state is None else state
        self._check_state(state, x_t.shape, sequence=False)
        out, new = self._step(x_t, state)
        if checking and self.state_keeps_non_finite:
            self._check_final_state(x_t, "[B, ...]", given, new)
        return out, new

    def reset(self) -> None:
        """Do nothing: this neuron keeps no state between calls, so there is none to reset.

        Every ``neuron(x)`` starts from rest and ``run``/``step`` hand the state back to
        the caller, so SpikingJelly's ``functional.reset_net(net)`` (which calls
        ``m.reset()`` on every module that has one) and the ``neuron.reset()`` habit
        are harmless no-ops here — and unnecessary. To continue a sequence, pass the
        state returned by ``run``/``step`` back in; to start over, pass ``state=None``.
        The reset *mode* (what a spike does to the membrane) is ``reset_mode``.
        """
        return None

    def _check_final_state(
        self, x: torch.Tensor, layout: str, given: Any, final: tuple[torch.Tensor, ...]
    ) -> None:
        """Cheap when finite (one sum over the state); else find the culprit and raise."""
        if sum_is_finite(*final):
            return
        name = type(self).__name__
        check_finite_input(x, f"input to {name} layer", layout, _OPT_OUT)
        for field, tensor in _fields(given) if given is not None else []:
            check_finite_input(tensor, f"state.{field} passed to {name} layer", "[B, ...]")
        for field, tensor in _fields(final):
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                bad = [n for n, p in self.named_parameters() if not torch.isfinite(p).all()]
                cause = (
                    f"its parameter(s) {', '.join(bad)} are not finite"
                    if bad
                    else "the membrane overflowed its dtype"
                )
                raise ValueError(
                    f"{name} layer's state.{field} became non-finite from finite input "
                    f"and state: {cause}{_SKIP}"
                )

    def _check_state(self, state: Any, step_shape: torch.Size, sequence: bool) -> None:
        if not isinstance(state, tuple) or not all(isinstance(t, torch.Tensor) for t in state):
            raise TypeError(
                f"{type(self).__name__} state must be a state tuple of tensors "
                f"(as returned by run/step/initial_state), got {type(state).__name__}"
            )
        for tensor in state:
            check_state_shape(tensor.shape, step_shape, sequence)

    def _check_parameter_shapes(self, step_shape: torch.Size, sequence: bool) -> None:
        """Per-neuron/per-channel parameters must broadcast to ``[B, ...]`` unchanged."""
        for name, param in self.named_parameters(recurse=False):
            if param.dim() == 0:
                continue
            try:
                ok = torch.broadcast_shapes(param.shape, step_shape) == step_shape
            except RuntimeError:
                ok = False
            if not ok:
                hint = " — did you pass [B, T, ...] instead of [T, B, ...]?" if sequence else ""
                raise ValueError(
                    f"{type(self).__name__}.{name} has shape {tuple(param.shape)}, which does "
                    f"not broadcast to the per-step input shape {tuple(step_shape)}{hint}"
                )
