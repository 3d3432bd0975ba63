import pytest

from spikeforge.engine.config import Config, config_from_dict, load_config, parse_override


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


def test_unknown_keys_and_sections_list_valid_ones(tmp_path):
    with pytest.raises(
        ValueError, match=r"unknown config key optim\.lrr; valid keys of optim: name, lr"
    ):
        load_config(None, ["optim.lrr=1"])
    with pytest.raises(ValueError, match="unknown config section 'trian'; valid sections: data"):
        config_from_dict({"trian": {}})
    with pytest.raises(ValueError, match="section.key=value"):
        parse_override("epochs")
    with pytest.raises(ValueError, match="must be section.key"):
        parse_override("epochs=3")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_round_trip_through_dict():
    config = load_config(None, ["train.epochs=2"])
    assert config_from_dict(config.to_dict()) == config


def test_every_shipped_config_loads():
    """configs/*.yaml: training configs parse as Config, lasnn_* as pipeline configs."""
    from pathlib import Path

    import yaml

    from spikeforge.pipelines.lasnn import load_pipeline_config

    paths = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
    assert len(paths) >= 15
    for path in paths:
        if path.name.startswith("lasnn_"):
            dataset = yaml.safe_load(path.read_text())["dataset"]
            assert load_pipeline_config(dataset, path=path)["variants"], path.name
        else:
            assert load_config(path).data.name, path.name
