"""The training method of a config: ``train.method`` with its objective and options, a
teacher from the ``distill`` section where the method ``needs_teacher``, prepared for
the model it will train."""

from __future__ import annotations

from torch import nn
from torch.utils.data import Dataset

from ..methods import METHODS, Method
from ..models.output import readout_population
from .build import build_decoder, check_readout
from .config import Config
from .distill import (
    check_distill_section,
    check_method_model,
    probe_inputs,
    teacher_method_options,
)
from .regularize import regularize


def build_method(
    config: Config,
    evaluation: bool = False,
    model: nn.Module | None = None,
    train_set: Dataset | None = None,
) -> Method:
    """The training method, with the configured objective, prepared for ``model``.

    A method that ``needs_teacher`` (``kd``, ``feature_kd``, ``lasnn``) gets its teacher,
    pairs and options from the ``distill`` section (see :mod:`.distill`); one that
    ``takes_seed`` gets ``train.seed``. With ``model`` and ``train_set`` the method's
    :meth:`~spikeforge.methods.Method.prepare` runs (feature-KD adapters and margins).
    ``evaluation=True`` (reopening a checkpoint to test it): a distilled student is
    evaluated by its own objective (``bptt``), since the teacher only shaped training.

    ``train.regularizers`` (firing-rate penalties, see :mod:`.regularize`) wrap the
    method in :class:`~.regularize.Regularized`, checked against ``model``'s spiking
    layers; evaluation leaves them out (they only shape training).

    With ``model``, the output contract is checked here, at build time
    (:func:`~.build.check_readout`, :func:`~.build.build_decoder`): the objective and
    ``model.decoder`` must read the model's declared readout (spikes or an analog
    membrane), else a ``ValueError`` names both and the fix; a model built with
    ``model.kwargs.population=P`` gives the objective ``population=P``.
    """
    name = config.train.method
    cls = METHODS.get(name)
    check_method_model(config)
    options = dict(config.train.method_options)
    if evaluation and cls.needs_teacher:
        name, options = "bptt", {}
    elif cls.needs_teacher:
        if model is None or train_set is None:
            raise ValueError(f"train.method={name} needs the student model and training set")
        options.update(teacher_method_options(config))
    else:
        check_distill_section(config)
    if cls.takes_seed and name == config.train.method:
        options.setdefault("seed", config.train.seed)  # e.g. SLTT-K's steps, DECOLLE's readouts
    if config.optim.label_smoothing:
        options.setdefault("label_smoothing", config.optim.label_smoothing)
    if model is not None:
        check_readout(config, model)
        if readout_population(model) is not None:  # P outputs per class: the objective groups
            options.setdefault("population", readout_population(model))
    try:
        method = METHODS.create(name, objective=config.train.objective, **options)
    except TypeError as exc:  # an option the method does not take
        shown = {k: v for k, v in options.items() if k not in ("teacher", "pairs")}
        raise ValueError(f"train.method={name} does not take the options {shown}: {exc}") from None
    if model is not None:
        build_decoder(config, model, method)  # refuses a decoder that cannot read the model
    if model is not None and train_set is not None and not evaluation:
        dataset = train_set
        method.prepare(model, lambda count: probe_inputs(config, dataset, count))
    if config.train.regularizers and not evaluation:
        if model is None:
            raise ValueError("train.regularizers needs the model (its spiking layers)")
        method = regularize(method, list(config.train.regularizers), model)
    return method
