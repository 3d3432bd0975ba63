"""``spikeforge train`` with a teacher: the ``distill`` section (engine/distill.py)."""

import warnings

import pytest
import torch

from spikeforge.cli import main
from spikeforge.engine.config import load_config
from spikeforge.engine.distill import (
    check_distill_section,
    check_method_model,
    load_teacher,
    probe_inputs,
)
from spikeforge.engine.run import evaluate_checkpoint, make_trainer
from spikeforge.methods.distill import FeatureKD, ResponseKD
from spikeforge.methods.distill.feature import CALIBRATION_SAMPLES
from spikeforge.methods.distill.features import teacher_forward
from spikeforge.methods.distill.losses import channel_margins

pytestmark = pytest.mark.usefixtures("one_thread")

# csnn_tiny student (LIF after each conv-BN: modules "1" and "3") against the digits
# ann_csnn_tiny teacher's pre-ReLU BatchNorm outputs ("layers.1", "layers.5").
PAIRS = "distill.pairs=[[layers.1, '1'], [layers.5, '3']]"
SMALL = [
    "train.epochs=1",
    "train.progress=false",
    "data.batch_size=128",
    "model.kwargs={widths: [4, 8]}",
    "data.encoder=poisson",
]


def config(tmp_path, teacher, *extra):
    distill = [f"distill.teacher={teacher}", "train.method=feature_kd", PAIRS]
    return load_config(None, [*SMALL, f"train.run_dir={tmp_path}", *distill, *extra])


def state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_feature_kd_run_builds_adapters_calibrates_resumes_and_reopens(
    tmp_path, digits_ann_checkpoint
):
    cfg = config(tmp_path, digits_ann_checkpoint, "train.checkpoint_every=3")
    whole = make_trainer(cfg, tmp_path / "whole")
    method = whole.method
    assert isinstance(method, FeatureKD) and method.ready
    # every adapter parameter is trained (it is in the optimiser), the teacher's are not
    optimised = {id(p) for g in whole.optimizer.param_groups for p in g["params"]}
    assert all(id(p) in optimised for p in method.adapters.parameters())
    assert not any(id(p) in optimised for p in method.teacher.parameters())
    # margins: the teacher's responses to the seeded calibration sample
    images = method.teacher_input(probe_inputs(cfg, whole.train_set, CALIBRATION_SAMPLES))
    _, feats = teacher_forward(method.teacher, images, ["layers.1", "layers.5"])
    for margin, name in zip(method.margins(), ["layers.1", "layers.5"], strict=True):
        torch.testing.assert_close(margin, channel_margins(feats[name]))
    before = state(method.adapters)
    whole.fit()
    after = state(method.adapters)
    assert any(not torch.equal(before[k], after[k]) for k in before)  # adapters learned

    # killed after step 4 (last checkpoint: step 3), then resumed: the same run
    broken_cfg = config(
        tmp_path, digits_ann_checkpoint, "train.checkpoint_every=3", "train.max_steps=4"
    )
    make_trainer(broken_cfg, tmp_path / "broken").fit()
    resumed = make_trainer(cfg, tmp_path / "broken")
    resumed.fit(resume=True)
    for name, tensor in state(whole.model).items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    for name, tensor in after.items():
        assert torch.equal(tensor, resumed.method.adapters.state_dict()[name]), name

    # the student checkpoint reopens without the teacher: evaluated as a plain SNN
    metrics = evaluate_checkpoint(tmp_path / "whole" / "last.pt")
    assert metrics["accuracy"] == pytest.approx(whole.history[-1]["test_acc"])


def test_response_kd_and_lasnn_take_their_options(tmp_path, digits_ann_checkpoint):
    kd = make_trainer(
        load_config(
            None,
            [
                *SMALL,
                f"train.run_dir={tmp_path}",
                "train.method=kd",
                f"distill.teacher={digits_ann_checkpoint}",
                "distill.options={tau: 3.0, alpha: 0.25}",
            ],
        ),
        tmp_path / "kd",
    )
    assert isinstance(kd.method, ResponseKD)
    assert (kd.method.tau, kd.method.alpha) == (3.0, 0.25)
    lasnn = make_trainer(
        config(
            tmp_path,
            digits_ann_checkpoint,
            "train.method=lasnn",
            "distill.options={beta: 4.0, attention: activation}",
        ),
        tmp_path / "lasnn",
    )
    assert type(lasnn.method).__name__ == "LaSNN" and lasnn.method.beta == 4.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["train.method=feature_kd", PAIRS], "needs distill.teacher"),
        (["train.method=feature_kd", "distill.teacher=x.pt"], "needs distill.pairs"),
        (["train.method=kd", "distill.teacher=x.pt", PAIRS], "logits only"),
    ],
)
def test_incomplete_distill_sections_are_named(extra, message):
    with pytest.raises(ValueError, match=message):
        check_distill_section(load_config(None, extra))


def test_a_distill_section_without_a_teacher_method_warns_and_trains(tmp_path):
    cfg = load_config(None, [*SMALL, f"train.run_dir={tmp_path}", "distill.teacher=x.pt"])
    with pytest.warns(UserWarning, match="distill section is ignored: train.method=bptt"):
        trainer = make_trainer(cfg, tmp_path / "bptt")
    assert type(trainer.method).__name__ == "BPTT"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_distill_section(load_config(None, []))  # no section: no warning


def test_a_method_refuses_a_model_it_cannot_train_in_one_cli_line(tmp_path, capsys):
    # hybrid fine-tunes converted SNNs only: named before any data or model is built
    args = ["train", "--config", "digits_hybrid", "model.name=csnn_tiny",
            f"train.run_dir={tmp_path}"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.method=hybrid trains model.name in ['converted']" in err[0]
    assert "got model.name=csnn_tiny" in err[0] and "train.method=bptt" in err[0]
    check_method_model(load_config(None, ["train.method=bptt", "model.name=csnn_tiny"]))


def test_teacher_of_another_dataset_is_refused(digits_ann_checkpoint):
    cfg = load_config(None, ["data.name=mnist-small", f"distill.teacher={digits_ann_checkpoint}"])
    with pytest.raises(ValueError, match="trained on 'digits'.*trains on 'mnist-small'"):
        load_teacher(cfg)


def test_probe_inputs_are_encoded_like_training_batches(tmp_path):
    cfg = load_config(None, [*SMALL, "data.timesteps=3", f"train.run_dir={tmp_path}"])
    trainer = make_trainer(cfg, tmp_path / "p")
    x = probe_inputs(cfg, trainer.train_set, 5)
    assert x.shape == (3, 5, 1, 8, 8)
    assert set(x.unique().tolist()) <= {0.0, 1.0}  # Poisson spikes
    assert torch.equal(x, probe_inputs(cfg, trainer.train_set, 5))  # seeded


def test_the_readme_example_config_trains(tmp_path):
    """``configs/digits_sew_masked_psn_fkd.yaml`` (masked PSN in a SEW-ResNet-18 with
    feature KD) runs as written, from its own teacher config, for a few steps."""
    from pathlib import Path

    from spikeforge.engine.run import train

    configs = Path(__file__).resolve().parents[1] / "configs"
    quick = ["train.epochs=1", "train.progress=false", f"train.run_dir={tmp_path}"]
    teacher_cfg = load_config(configs / "digits_resnet_ann.yaml", quick)
    train(teacher_cfg)
    teacher = tmp_path / "digits-resnet-ann" / "last.pt"
    student_cfg = load_config(
        configs / "digits_sew_masked_psn_fkd.yaml",
        [*quick, "train.max_steps=2", f"distill.teacher={teacher}"],
    )
    trainer, _ = train(student_cfg)
    assert type(trainer.method).__name__ == "FeatureKD" and trainer.method.ready
    assert type(trainer.model.layer1[0].sn1).__name__ == "MaskedPSN"
    assert trainer.position.step == 2
