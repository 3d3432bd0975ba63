"""Base class of spiking neuron modules: thin shells over the functional core.

Call contract (fixed, no flags change it):

- ``neuron(x)`` with ``x`` ``[T, B, ...]`` starts from rest and returns the output
  sequence ``[T, B, ...]`` — so neurons compose in a plain ``nn.Sequential``.
- ``neuron.run(x, state)`` returns ``(output [T, B, ...], final_state)``: carry the
  state into the next call to stream a long sequence in chunks.
- ``neuron.step(x_t, state)`` with ``x_t`` ``[B, ...]`` returns ``(output_t, state)``
  for online, one-step-at-a-time use.

Modules hold parameters and configuration only; state is always passed explicitly,
so nothing needs resetting between batches. A state whose shape does not match the
input raises (it is never silently re-zeroed).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from .._validation import check_sequence, check_state_shape


class SpikingNeuron(nn.Module):
    """Subclasses implement :meth:`initial_state`, :meth:`_run` and :meth:`_step`."""

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
        check_sequence(x, f"{type(self).__name__} input")
        self._check_parameter_shapes(x.shape[1:], sequence=True)
        state = self.initial_state(x[0]) if state is None else state
        self._check_state(state, x.shape[1:], sequence=True)
        return self._run(x, state)

    def step(self, x_t: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """One time step: ``x_t`` ``[B, ...]`` -> ``(out_t [B, ...], state)``."""
        if not isinstance(x_t, torch.Tensor) or x_t.dim() < 1:
            raise ValueError(f"step input must be a tensor [B, ...], got {x_t!r:.60}")
        self._check_parameter_shapes(x_t.shape, sequence=False)
        state = self.initial_state(x_t) if state is None else state
        self._check_state(state, x_t.shape, sequence=False)
        return self._step(x_t, state)

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
