"""Typed configs: YAML files, nested merged overrides, one-line errors, shipped configs."""

import pytest

from spikeforge.cli import main
from spikeforge.engine.config import (
    Config,
    apply_overrides,
    config_from_dict,
    find_config,
    load_config,
    parse_overrides,
    shipped_configs,
)


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  timesteps: 8\noptim:\n  lr: 0.1\n")
    config = load_config(
        path, ["optim.lr=0.02", "model.neuron_kwargs={tau: 3.0}", "train.amp=true"]
    )
    assert config.data.timesteps == 8
    assert config.optim.lr == 0.02
    assert config.model.neuron_kwargs == {"tau": 3.0}
    assert config.train.amp is True
    assert config.model.name == Config().model.name  # untouched keys keep defaults


def test_dict_overrides_merge_into_the_files_dict_and_nested_keys_reach_inside():
    """The README's hybrid command: the checkpoint replaces only that key."""
    command = load_config("digits_hybrid", ["model.kwargs={checkpoint: runs/x/best.pt}"])
    assert command.model.kwargs == {
        "checkpoint": "runs/x/best.pt",
        "calibration": "percentile",
        "percentile": 99.9,
        "learn_threshold": True,
    }
    nested = load_config("digits_hybrid", ["model.kwargs.checkpoint=runs/x/best.pt"])
    assert nested.model.kwargs == command.model.kwargs


def test_values_are_type_checked_with_one_line_naming_key_type_and_value():
    with pytest.raises(ValueError) as info:
        load_config(None, ["train.epochs=abc"])
    assert str(info.value) == "config key train.epochs expects int, got 'abc' (str)"
    with pytest.raises(ValueError, match=r"train\.epochs expects int, got 1\.5"):
        load_config(None, ["train.epochs=1.5"])
    with pytest.raises(ValueError, match=r"optim\.grad_clip expects float or null, got 'x'"):
        load_config(None, ["optim.grad_clip=x"])
    with pytest.raises(ValueError, match=r"model\.kwargs expects mapping, got 3"):
        load_config(None, ["model.kwargs=3"])
    with pytest.raises(ValueError, match=r"train\.amp expects bool"):
        config_from_dict({"train": {"amp": "maybe"}})
    # ints become floats where a float is declared; YAML's 5e-3 string too
    assert load_config(None, ["optim.lr=1"]).optim.lr == 1.0
    assert load_config(None, ["optim.lr=5e-3"]).optim.lr == pytest.approx(0.005)


def test_unknown_keys_and_sections_list_valid_ones(tmp_path):
    with pytest.raises(
        ValueError, match=r"unknown config key optim\.lrr; valid keys of optim: name, lr"
    ):
        load_config(None, ["optim.lrr=1"])
    with pytest.raises(ValueError, match="unknown config section trian; valid: data, model"):
        config_from_dict({"trian": {}})
    with pytest.raises(ValueError, match="section.key=value"):
        parse_overrides(["epochs"])
    with pytest.raises(FileNotFoundError, match="does not exist and is not a shipped config"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(TypeError, match="must be a mapping"):
        config_from_dict([1, 2])  # type: ignore[arg-type]


def test_overrides_return_a_new_config_and_round_trip_through_dict():
    config = load_config(None, ["train.epochs=2"])
    changed = apply_overrides(config, ["train.epochs=3"])
    assert config.train.epochs == 2 and changed.train.epochs == 3
    assert config_from_dict(config.to_dict()) == config


def test_every_shipped_config_loads_by_name_from_any_directory(tmp_path, monkeypatch):
    """Training configs parse as Config, pipeline configs through their pipeline."""
    from spikeforge.pipelines import PIPELINES
    from spikeforge.pipelines.runner import read_with_parents

    monkeypatch.chdir(tmp_path)  # no configs/ folder here: found inside the package
    names = shipped_configs()
    assert len(names) >= 15 and "lasnn_digits" in names and "digits_csnn" in names
    for name in names:
        data = read_with_parents(find_config(name))
        if "pipeline" in data:
            loaded = PIPELINES.get(data["pipeline"]).load_config(path=name)
            assert loaded.pipeline == data["pipeline"], name
            # pipelines that compare variants ship some; spikingbert's stages are fixed
            assert getattr(loaded, "variants", True), name
        else:
            assert load_config(name).data.name, name
    assert find_config("configs/digits_csnn.yaml").name == "digits_csnn.yaml"


def test_config_show_prints_a_resolved_config(tmp_path, monkeypatch, capsys):
    import yaml

    monkeypatch.chdir(tmp_path)
    assert main(["config", "show", "digits_hybrid", "model.kwargs.checkpoint=a.pt"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["model"]["kwargs"]["checkpoint"] == "a.pt"
    assert shown["train"]["objective"] == "ce_membrane"  # defaults filled in
    assert main(["config", "show", "lasnn_digits", "timesteps=2"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["student"]["data"]["timesteps"] == 2  # ${timesteps} resolved
    assert shown["converted"]["kwargs"]["checkpoint"] == f"{shown['run_dir']}/intermediate/last.pt"
    assert main(["config", "list"]) == 0
    assert "lasnn_digits" in capsys.readouterr().out.split()
    assert main(["config", "show", "nope"]) == 2
    assert "not a shipped config" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.grad_clip=-1", "optim.grad_clip must be > 0, got -1.0"),
        ("train.epochs=0", "train.epochs must be >= 1, got 0"),
        ("data.batch_size=0", "data.batch_size must be >= 1, got 0"),
        ("train.checkpoint_every=-1", "train.checkpoint_every must be >= 0, got -1"),
        ("train.device=tpu", "train.device must be one of auto, cpu, mps, cuda"),
        ("optim.name=adam", "optim.name must be one of adamw, sgd, got 'adam'"),
        ("optim.label_smoothing=1.0", "optim.label_smoothing must be >= 0 and < 1"),
        ("data.timesteps=0", "data.timesteps must be >= 1"),
    ],
)
def test_values_out_of_range_are_refused_at_load_naming_key_and_limit(override, message):
    with pytest.raises(ValueError) as info:
        load_config(None, [override])
    assert str(info.value).startswith(f"config key {message}")
    assert "\n" not in str(info.value)


def test_in_range_and_optional_values_pass():
    config = load_config(None, ["train.device=cuda:1", "optim.grad_clip=null", "optim.lr=0"])
    assert config.train.device == "cuda:1" and config.optim.grad_clip is None


def test_a_tilde_resets_a_key_so_that_a_dict_can_be_replaced_not_merged(capsys):
    merged = load_config("fsdd_mlp", ["model.neuron_kwargs={T: 4}"])
    assert merged.model.neuron_kwargs == {"tau": 4.0, "decay_input": False, "T": 4}
    replaced = load_config("fsdd_mlp", ["~model.neuron_kwargs", "model.neuron_kwargs={T: 4}"])
    assert replaced.model.neuron_kwargs == {"T": 4}
    # a declared key goes back to its default; a free-form dict entry is removed
    assert load_config("digits_hybrid", ["optim.lr=0.5", "~optim.lr"]).optim.lr == 5e-3
    assert (
        "percentile" not in load_config("digits_hybrid", ["~model.kwargs.percentile"]).model.kwargs
    )
    with pytest.raises(ValueError, match="no config key model.kwargs.nope to reset"):
        load_config(None, ["~model.kwargs.nope"])
    # on the command line too, anywhere
    assert main(["config", "show", "fsdd_mlp", "~model.neuron_kwargs"]) == 0
    assert "neuron_kwargs: {}" in capsys.readouterr().out
