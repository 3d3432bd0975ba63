r"""ANN -> SNN conversion pipeline (METHODS §6).

``validate -> trace -> fold BN -> replace ReLU/pools -> calibrate -> finalize``:

1. *trace* with ``torch.fx`` (sees functional ReLUs); an untraceable model is walked
   module by module instead (with a warning: functional calls are invisible then);
2. *validate*: every unsupported module/function is listed, with its location, in one
   :class:`~.validate.UnsupportedOperationError` before any work is done;
3. *fold* BatchNorm into the preceding conv/linear (eval statistics);
4. *replace* ReLU by IF with soft reset (:class:`~.neurons.ConvertedIF`), max-pool by
   average pool (warning) or :class:`~.neurons.SpikingMaxPool`, dropout by identity;
5. *calibrate* ``V_th = λ_l`` with a recipe (:mod:`.calibrate`) on ReLU activations of
   calibration data (the rewritten network run in analog mode, so pools are the
   converted ones);
6. *finalize*: membranes start at ``initial_membrane · V_th`` (default ``V_th/2``), the
   output layer accumulates membrane (:class:`~.model.ConvertedSNN`).

Threshold convention: ``V_th = λ_l`` with spikes carrying ``λ_l`` (see :mod:`.neurons`);
weights are never rescaled. The input ANN is deep-copied and left unchanged;
calibration restores the network's training flags in a ``finally`` block.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from ..._validation import check_finite, check_finite_input
from ...surrogates import SurrogateLike
from .calibrate import Observer, Recipe, batches_of, make_recipe
from .fold import fold_graph, fold_modules
from .model import ConvertedSNN
from .neurons import ConvertedIF
from .replace import replace_graph, replace_modules
from .trace import trace
from .validate import check_convertible


def _training_flags(model: nn.Module) -> dict[nn.Module, bool]:
    return {m: m.training for m in model.modules()}


def _restore_flags(flags: dict[nn.Module, bool]) -> None:
    for module, training in flags.items():
        module.training = training


def _finite_only(site: str, observer: Observer) -> Callable[[torch.Tensor], None]:
    """``observer`` behind a check that refuses NaN/inf activations, naming the site."""

    def observe(activation: torch.Tensor) -> None:
        check_finite_input(
            activation,
            f"calibration: the ReLU activation at neuron site {site!r}",
            "[N, C, ...]",
            " — the calibration inputs were finite, so the network made it (NaN/inf "
            "weights in the checkpoint, or an overflow before this layer); its threshold "
            "would be meaningless",
        )
        observer(activation)

    return observe


@torch.no_grad()
def calibrate(
    snn: ConvertedSNN,
    data: torch.Tensor | Iterable[Any],
    recipe: str | Recipe = "percentile",
    batch_size: int = 256,
    **recipe_options: Any,
) -> dict[str, torch.Tensor]:
    """Set ``V_th = λ`` of every neuron of ``snn`` from ANN activations on ``data``.

    Args:
        snn: a converted network (its neurons act as ReLUs during calibration).
        data: ANN inputs ``[N, ...]`` or an iterable of batches / ``(inputs, labels)``.
        recipe: registered recipe name (``"max"``, ``"percentile"``) or a Recipe.
        batch_size: batch size when ``data`` is one tensor.
        **recipe_options: options of a named recipe (``percentile=99.9, per_channel=True``).

    Returns: ``{neuron name: λ}``.

    Raises ``ValueError`` on NaN/inf in the calibration inputs (naming the batch) or in
    a layer's activations (naming the layer): a threshold from them would be meaningless.
    """
    recipe = make_recipe(recipe, **recipe_options)
    neurons = snn.neurons()
    observers = {name: recipe.observer() for name in neurons}
    flags = _training_flags(snn)
    snn.eval()
    snn.context.observers = {name: _finite_only(name, obs) for name, obs in observers.items()}
    seen = 0
    device = next((p.device for p in snn.parameters()), torch.device("cpu"))
    try:
        for index, batch in enumerate(batches_of(data, batch_size)):
            if isinstance(batch, torch.Tensor):
                check_finite_input(
                    batch,
                    f"calibration input batch {index} (samples {seen}..{seen + len(batch) - 1})",
                    "[N, ...]",
                    " — calibration needs finite ANN inputs",
                )
            snn.analog(batch.to(device))
            seen += len(batch)
            snn.info["sample_dims"] = batch.dim() - 1
    finally:
        snn.context.observers = {}
        _restore_flags(flags)
    if not seen:
        raise ValueError("calibration data is empty: need at least one ANN input sample")
    scales = {name: observer.threshold() for name, observer in observers.items()}
    for name, scale in scales.items():
        check_finite(scale, f"calibrated threshold of neuron site {name!r} ({recipe!r})")
        neurons[name].set_scale(scale)
    snn.info["calibration"] = repr(recipe)
    snn.info["calibration_samples"] = seen
    return scales


def convert(
    ann: nn.Module,
    calibration_data: torch.Tensor | Iterable[Any] | None = None,
    recipe: str | Recipe = "percentile",
    *,
    maxpool: str = "avg",
    initial_membrane: float = 0.5,
    surrogate: SurrogateLike = "atan",
    learn_threshold: bool = False,
    neuron: str = "if",
    neuron_kwargs: dict[str, Any] | None = None,
    **recipe_options: Any,
) -> ConvertedSNN:
    """Convert a ReLU ANN (``[N, ...] -> [N, C]``) into a rate-coded SNN.

    Args:
        ann: the trained ANN (unchanged by the conversion).
        calibration_data: ANN inputs for threshold calibration (``None``: ``V_th = 1``,
            e.g. to load calibrated thresholds from a state dict afterwards).
        recipe: ``"max"``, ``"percentile"`` or a :class:`~.calibrate.Recipe`.
        maxpool: ``"avg"`` (replace by average pooling, with a warning), ``"spiking"``
            (:class:`~.neurons.SpikingMaxPool`, 2-D) or ``"error"`` (refuse).
        initial_membrane: initial membrane as a fraction of ``V_th``.
        surrogate: surrogate gradient of the IF neurons (for hybrid fine-tuning).
        learn_threshold: thresholds become trainable parameters.
        neuron: ``"if"`` (the exact rate model) or ``"lif"``/``"plif"`` (leaky variants).
        neuron_kwargs: other neuron options (``detach_reset``, ...).
        **recipe_options: options of a named recipe (``percentile=99.9, per_channel=True``).

    Returns: a :class:`~.model.ConvertedSNN` in eval mode mapping ``[T, B, ...]`` to
    ``[T, B, C]``.
    """
    recipe = make_recipe(recipe, **recipe_options)
    if not isinstance(ann, nn.Module):
        raise TypeError(f"convert needs an nn.Module ANN, got {type(ann).__name__}")
    work = copy.deepcopy(ann).eval()  # the ANN itself is never modified (nor its flags)
    gm, reason = trace(work)
    how = "traced with torch.fx" if gm is not None else "module walk"
    check_convertible(work, gm, maxpool, how)
    body: nn.Module = gm if gm is not None else work

    kind = neuron

    def neuron() -> ConvertedIF:
        return ConvertedIF(
            1.0, initial_membrane, surrogate, learn_threshold, kind, **dict(neuron_kwargs or {})
        )

    if gm is not None:
        folded = fold_graph(gm)
        names = replace_graph(gm, neuron, maxpool)
    else:
        warnings.warn(
            f"{type(ann).__name__} cannot be traced ({reason}); converting by module walk: "
            f"only nn.ReLU modules become spiking neurons (functional relu calls in "
            f"forward() are not seen) and BatchNorm is folded within nn.Sequential only",
            UserWarning,
            stacklevel=2,
        )
        folded = fold_modules(body)
        names = replace_modules(body, neuron, maxpool)
    if not names:
        raise ValueError(f"{type(ann).__name__} has no ReLU to convert into spiking neurons")
    info = {"tracing": how, "folded_batch_norms": folded, "neurons": len(names)}
    info |= {"neuron": kind, "maxpool": maxpool, "initial_membrane": initial_membrane}
    snn = ConvertedSNN(body, info)
    if calibration_data is not None:
        calibrate(snn, calibration_data, recipe)
    return snn.eval()
