r"""Feature extraction for ANN→SNN distillation: forward hooks at named layers.

Layers are named as in ``model.named_modules()`` (``"1"``, ``"layer2.1.conv2"``, ...) and
resolved with :meth:`torch.nn.Module.get_submodule`. :func:`capture` records, during one
forward pass, the output (or the first positional input) of each named submodule.

- Teacher (ANN, ``[B, C, H, W]`` in): a named layer gives ``A_T`` ``[B, C, H, W]``.
- Student (SNN, ``[T, B, C, H, W]`` in): a named layer gives a sequence ``[T, B, C, H, W]``,
  reduced over time by :func:`student_feature`:

  * ``"rate"``: the time mean of the layer's **output**, ``r = (1/T) Σ_t S[t]`` — for a
    spiking layer, the firing rate.
  * ``"membrane"``: the time mean of the layer's **input**, ``ī = (1/T) Σ_t I[t]`` — for a
    spiking layer, its input current (the pre-activation, the analogue of an ANN's
    pre-ReLU value). The membrane potential itself is internal state that the
    neuron modules do not expose (it decays and is reset); the input current is the
    driving term of ``V``, and equals the membrane increment of an IF neuron.
    Name the neuron layer itself for this option.

If a module runs several times in one forward, the last call is kept. A student layer
that runs on time-folded inputs ``[T·B, ...]`` (the convs and pools of ``fold``-ed or
converted networks) is recorded as ``[T, B, ...]`` too (:func:`unfold_time`), so any
layer can be paired, not only the neurons.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from ..._validation import check_choice

STUDENT_FEATURES = ("rate", "membrane")


def unwrap(model: nn.Module) -> nn.Module:
    """The wrapped module of a ``DistributedDataParallel``/``DataParallel``, else ``model``."""
    if isinstance(model, nn.parallel.DistributedDataParallel | nn.DataParallel):
        return model.module
    return model


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """``model.get_submodule(name)`` with an error that lists some valid names."""
    if not isinstance(name, str):
        raise TypeError(f"layer name must be a str, got {type(name).__name__}")
    try:
        return unwrap(model).get_submodule(name)
    except AttributeError:
        names = [n for n, _ in unwrap(model).named_modules() if n]
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise ValueError(
            f"{type(unwrap(model)).__name__} has no layer {name!r}; expected one of: {shown}"
        ) from None


@contextmanager
def capture(
    model: nn.Module, names: Sequence[str], inputs: bool = False
) -> Iterator[dict[str, torch.Tensor]]:
    """Record the output (``inputs=False``) or first input of each named layer.

    Usage::

        with capture(model, ["1", "3"]) as feats:
            out = model(x)
        feats["1"]  # output of model.get_submodule("1") during that forward

    Args:
        model: the network (a DDP wrapper is unwrapped).
        names: layer names; unknown names raise ``ValueError`` before anything runs.
        inputs: record each layer's first positional input instead of its output.

    Yields:
        A dict ``name -> tensor`` filled while the forward runs (tensors keep their graph).
    """
    layers = [(name, get_layer(model, name)) for name in names]
    store: dict[str, torch.Tensor] = {}

    def hook_for(name: str):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            value = args[0] if inputs else output
            if not isinstance(value, torch.Tensor):
                raise TypeError(
                    f"layer {name!r} {'input' if inputs else 'output'} must be a tensor, "
                    f"got {type(value).__name__}"
                )
            store[name] = value

        return hook

    handles = [layer.register_forward_hook(hook_for(name)) for name, layer in layers]
    try:
        yield store
    finally:
        for handle in handles:
            handle.remove()


def _missing(store: dict[str, torch.Tensor], names: Sequence[str], who: str) -> None:
    missing = [n for n in names if n not in store]
    if missing:
        raise ValueError(
            f"{who} layers {missing} did not run in the forward pass; expected every named "
            f"layer ({list(names)}) to be on the forward path"
        )


def unfold_time(recorded: torch.Tensor, steps: int, batch: int) -> torch.Tensor:
    """A recorded student tensor as ``[T, B, ...]``: one already in that layout is
    returned as is; one from a layer that ran on the time-folded batch ``[T·B, ...]`` is
    viewed as ``[T, B, ...]`` (time outer, as :func:`~spikeforge.layers.fold` folds)."""
    if recorded.dim() >= 2 and tuple(recorded.shape[:2]) == (steps, batch):
        return recorded
    if recorded.dim() >= 1 and recorded.shape[0] == steps * batch:
        return recorded.reshape(steps, batch, *recorded.shape[1:])
    raise ValueError(
        f"a student layer gave shape {tuple(recorded.shape)}: expected [T, B, ...] or "
        f"[T*B, ...] with T={steps}, B={batch}"
    )


def student_feature(sequence: torch.Tensor, kind: str = "rate") -> torch.Tensor:
    """Time mean of a recorded student sequence ``[T, B, ...]`` -> ``[B, ...]``.

    ``kind`` only documents what was recorded (``"rate"``: outputs, ``"membrane"``: input
    currents); the reduction is the same mean over T.
    """
    check_choice(kind, "student_features", STUDENT_FEATURES)
    if sequence.dim() < 2:
        raise ValueError(
            f"student feature must be a sequence [T, B, ...], got shape {tuple(sequence.shape)}"
        )
    return sequence.mean(0)


def teacher_forward(
    teacher: nn.Module, images: torch.Tensor, names: Sequence[str]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run a frozen teacher under ``no_grad``: ``images`` ``[B, C, H, W]`` ->
    ``(logits [B, K], {name: feature [B, ...]})``."""
    with torch.no_grad(), capture(teacher, names) as feats:
        logits = teacher(images)
    _missing(feats, names, "teacher")
    return logits, dict(feats)


def student_forward(
    model: nn.Module, inputs: torch.Tensor, names: Sequence[str], kind: str = "rate"
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Run the student SNN and record the named layers.

    Args:
        model: maps ``[T, B, ...]`` to ``[T, B, K]``.
        inputs: ``[T, B, ...]``.
        names: student layer names.
        kind: ``"rate"`` or ``"membrane"`` (see the module docstring).

    Returns:
        ``(output [T, B, K], features {name: time mean [B, ...]},
        outputs {name: raw output sequence [T, B, ...]})`` — the raw outputs are the
        spike trains a spike activation map needs, whatever ``kind`` is.
    """
    check_choice(kind, "student_features", STUDENT_FEATURES)
    if kind == "membrane":
        with capture(model, names) as outs, capture(model, names, inputs=True) as ins:
            output = model(inputs)
        recorded = ins
    else:
        with capture(model, names) as outs:
            output = model(inputs)
        recorded = outs
    _missing(outs, names, "student")
    steps, batch = int(inputs.shape[0]), int(inputs.shape[1])
    feats = {
        name: student_feature(unfold_time(recorded[name], steps, batch), kind) for name in names
    }
    return output, feats, {name: unfold_time(outs[name], steps, batch) for name in names}


def infer_channels(
    teacher: nn.Module,
    model: nn.Module,
    pairs: Sequence[tuple[str, str]],
    inputs: torch.Tensor,
    kind: str = "rate",
) -> list[tuple[int, int]]:
    """``(student channels, teacher channels)`` of each pair, by one probe forward each.

    ``inputs`` ``[T, B, C, H, W]``; the teacher sees ``inputs.mean(0)``. Both networks
    run under ``no_grad`` and the student in eval mode (its BatchNorm statistics are not
    touched); its train/eval mode is restored afterwards.
    """
    t_names = [t for t, _ in pairs]
    s_names = [s for _, s in pairs]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            _, t_feats = teacher_forward(teacher, inputs.mean(0), t_names)
            _, s_feats, _ = student_forward(model, inputs, s_names, kind)
    finally:
        model.train(was_training)
    return [(int(s_feats[s].shape[1]), int(t_feats[t].shape[1])) for t, s in pairs]
