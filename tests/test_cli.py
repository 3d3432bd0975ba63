import pytest

from spikeforge.cli import main


@pytest.mark.parametrize(("kind", "expected"), [("neurons", "lif"), ("surrogates", "atan")])
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
