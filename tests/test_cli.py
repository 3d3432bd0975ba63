import pytest

from spikeforge.cli import main


@pytest.mark.parametrize(
    ("kind", "expected"), [("neurons", "lif"), ("surrogates", "atan"), ("methods", "ottt")]
)
def test_list_prints_registered_names(kind, expected, capsys):
    assert main(["list", kind]) == 0
    assert expected in capsys.readouterr().out.split()


def test_help_and_unknown_kind(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "demo" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["list", "nothing"])
    assert info.value.code == 2


def test_data_dir_flag_reaches_the_config(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    args = ["train", "--data-dir", str(missing), "data.name=mnist-small", "train.progress=false"]
    assert main([*args, f"train.run_dir={tmp_path}"]) == 2
    assert str(missing) in capsys.readouterr().err  # the error names where it looked


def test_download_rejects_unknown_dataset(tmp_path, capsys):
    assert main(["download", "nope", "--data-dir", str(tmp_path)]) == 2
    assert "no download source for 'nope'" in capsys.readouterr().err


def test_version_and_unknown_words(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"spikeforge {version('spikeforge')}"
    with pytest.raises(SystemExit) as info:
        main(["list", "neurons", "oops=1"])  # `list` takes no overrides
    assert info.value.code == 2
    assert "unrecognized arguments: oops=1" in capsys.readouterr().err
