"""``engine/method.py``: the training method of a config, its objective and options, the
run's seed for methods that take one, and a teacher from the ``distill`` section for the
methods that need one (or none when a distilled student is only evaluated)."""

from __future__ import annotations

import pytest
import torch

from spikeforge.encoding import READOUT_KINDS
from spikeforge.engine.build import build_datasets, build_model
from spikeforge.engine.config import load_config
from spikeforge.engine.method import build_method
from spikeforge.engine.run import make_trainer
from spikeforge.losses import OBJECTIVES
from spikeforge.methods import BPTT, DECOLLE, OTTT, SLTT, ResponseKD
from spikeforge.methods.distill import FeatureKD

SMALL = ["data.batch_size=8", "model.kwargs={widths: [4, 8]}"]


def test_bptt_with_the_configured_objective_and_label_smoothing():
    method = build_method(load_config(None, ["train.objective=ce_rate"]))
    assert type(method) is BPTT and type(method.objective).__name__ == "CERate"
    smoothed = build_method(load_config(None, ["optim.label_smoothing=0.2"]))
    assert smoothed.objective.label_smoothing == 0.2
    explicit = build_method(
        load_config(
            None, ["optim.label_smoothing=0.2", "train.method_options={label_smoothing: 0.1}"]
        )
    )
    assert explicit.objective.label_smoothing == 0.1  # the method's own option wins


@pytest.mark.parametrize(
    ("name", "cls", "attribute"), [("sltt", SLTT, "seed"), ("decolle", DECOLLE, "readout_seed")]
)
def test_methods_that_take_a_seed_get_the_runs_seed(name, cls, attribute):
    method = build_method(load_config(None, [f"train.method={name}", "train.seed=7"]))
    assert type(method) is cls and getattr(method, attribute) == 7
    own = load_config(
        None, [f"train.method={name}", "train.seed=7", "train.method_options={seed: 3}"]
    )
    assert getattr(build_method(own), attribute) == 3


def test_a_method_that_takes_no_seed_gets_none():
    method = build_method(load_config(None, ["train.method=ottt", "train.seed=7"]))
    assert type(method) is OTTT and not OTTT.takes_seed
    assert method.seed == 0  # SLTT's default: the run's seed was not handed on


def test_an_option_the_method_does_not_take_names_the_method():
    config = load_config(None, ["train.method=ottt", "train.method_options={beta: 1, gamma: 2}"])
    with pytest.raises(
        ValueError, match=r"train.method=ottt does not take the options \{'beta': 1, 'gamma': 2\}"
    ):
        build_method(config)


def test_a_teacher_method_needs_the_student_and_its_data():
    config = load_config(None, ["train.method=kd", "distill.teacher=teacher.pt"])
    with pytest.raises(
        ValueError, match="train.method=kd needs the student model and training set"
    ):
        build_method(config)


def test_a_teacher_method_without_a_teacher_is_named():
    config = load_config(None, [*SMALL, "train.method=kd"])
    train_set, _ = build_datasets(config)
    model = build_model(config, train_set)
    with pytest.raises(
        ValueError, match=r"train.method=kd needs distill.teacher: the last.pt of an ANN run"
    ):
        build_method(config, model=model, train_set=train_set)


def test_evaluating_a_distilled_student_needs_no_teacher():
    # the teacher file does not exist: evaluation must not try to load it
    config = load_config(
        None,
        [
            "train.method=feature_kd",
            "train.objective=ce_rate",
            "distill.teacher=/nonexistent/last.pt",
            "distill.pairs=[[a, b]]",
            "distill.options={beta: 2.0}",
        ],
    )
    method = build_method(config, evaluation=True)
    assert type(method) is BPTT and type(method.objective).__name__ == "CERate"


def test_response_kd_gets_the_teacher_and_the_distill_options(digits_ann_checkpoint):
    overrides = [*SMALL, "train.method=kd", f"distill.teacher={digits_ann_checkpoint}",
                 "distill.options={tau: 3.0}"]  # fmt: skip
    config = load_config(None, overrides)
    train_set, _ = build_datasets(config)
    model = build_model(config, train_set)
    method = build_method(config, model=model, train_set=train_set)
    assert type(method) is ResponseKD and method.tau == 3.0
    ann = torch.load(digits_ann_checkpoint, weights_only=True)["model"]
    teacher = method.teacher.state_dict()
    assert ann.keys() == teacher.keys()
    assert all(torch.equal(ann[k], teacher[k]) for k in ann)


def test_feature_kd_is_prepared_for_the_model(digits_ann_checkpoint):
    """With the model and training set, ``prepare`` builds the adapters before training."""
    overrides = ["data.batch_size=8", "train.method=feature_kd",
                 f"distill.teacher={digits_ann_checkpoint}",
                 "distill.pairs=[[layers.1, '1'], [layers.5, '3']]"]  # fmt: skip
    config = load_config(None, overrides)
    train_set, _ = build_datasets(config)
    model = build_model(config, train_set)
    method = build_method(config, model=model, train_set=train_set)
    assert isinstance(method, FeatureKD) and method.ready
    assert len(method.adapters) == 2
    assert all(p.requires_grad for p in method.adapters.parameters())


# -- objectives × readouts: what the objective reads must be what the model outputs -----
#: A small model of each readout kind (models/output.py): the zoo's analog membrane,
#: the same net with a spiking readout, and an ANN's scores.
READOUT_MODELS = {
    "membrane": ["model.name=csnn_tiny"],
    "spikes": ["model.name=csnn_tiny", "model.kwargs.readout=spiking"],
    "analog": ["model.name=ann_csnn_tiny", "train.method=ann"],
}
#: The fix each refusal names, by readout kind.
FIXES = {
    "membrane": r"use train.objective=ce_membrane/ce_per_step/mse_membrane/trevsnn, or "
    r"model.kwargs.readout=spiking$",
    "spikes": r"use train.objective=ce_rate/ce_temporal/mse_count/mse_temporal, or drop "
    r"model.kwargs.readout=spiking$",
    "analog": r"use train.objective=ce_membrane/ce_per_step/mse_membrane/trevsnn$",
}


def test_every_readout_kind_has_a_model_and_a_fix():
    assert set(READOUT_MODELS) == set(FIXES) == set(READOUT_KINDS)


@pytest.mark.parametrize("kind", list(READOUT_KINDS))
@pytest.mark.parametrize("objective", OBJECTIVES.names())
def test_objective_and_readout_pair_trains_or_is_refused_with_the_fix(
    objective, kind, tmp_path, one_thread
):
    overrides = [
        *SMALL,
        *READOUT_MODELS[kind],
        f"train.objective={objective}",
        "train.max_steps=2",
        "train.progress=false",
        "train.tensorboard=false",
        f"train.run_dir={tmp_path}",
    ]
    config = load_config(None, overrides)
    model_name = config.model.name
    if kind not in OBJECTIVES.get(objective).accepts:
        train_set, _ = build_datasets(config)
        model = build_model(config, train_set)
        needs = "spiking outputs" if kind != "spikes" else r"an analog readout \(membrane\)"
        message = f"^objective {objective} needs {needs}, but {model_name}'s readout is .*"
        with pytest.raises(ValueError, match=message + FIXES[kind]):
            build_method(config, model=model, train_set=train_set)
        with pytest.raises(ValueError, match=f"objective {objective} needs"):
            make_trainer(config, tmp_path / "refused")  # the engine's one way in
        return
    torch.manual_seed(0)
    trainer = make_trainer(config, tmp_path / "run")
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    assert trainer.position.step == 2 and trainer.loss_count == 2
    assert torch.isfinite(torch.tensor(trainer.loss_sum))
    after = trainer.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "no weight moved"


def test_a_population_model_gives_the_objective_its_population():
    config = load_config(None, [*SMALL, "model.kwargs.population=3", "train.objective=ce_membrane"])
    train_set, _ = build_datasets(config)
    model = build_model(config, train_set)
    method = build_method(config, model=model, train_set=train_set)
    assert method.objective.population == 3
    mismatch = load_config(None, [*SMALL, "train.method_options={population: 2}"])
    with pytest.raises(
        ValueError,
        match=r"method_options.population=2 but model csnn_tiny has no population; set "
        r"model.kwargs.population=2",
    ):
        build_method(mismatch, model=build_model(mismatch, train_set), train_set=train_set)


def test_a_decoder_that_cannot_read_the_model_is_refused_at_build_time():
    config = load_config(None, [*SMALL, "model.decoder=first_spike"])
    train_set, _ = build_datasets(config)
    with pytest.raises(
        ValueError,
        match=r"decoder first_spike reads spiking outputs, but csnn_tiny's readout is analog "
        r"membrane.*model.kwargs.readout=spiking",
    ):
        build_method(config, model=build_model(config, train_set), train_set=train_set)
