"""``spikeforge export --checkpoint RUN/last.pt --format nir out.nir`` end to end: a run
trained for one step, exported through the CLI, read back, and equal to the run's model."""

from __future__ import annotations

import sys

import pytest
import torch

from spikeforge.cli import main
from spikeforge.engine.inspect import test_batch as encoded_test_batch
from spikeforge.engine.inspect import trainer_from_checkpoint
from spikeforge.export import export_checkpoint, from_nir

nir = pytest.importorskip("nir", reason="the nir package is not installed (pip install nir)")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A digits csnn_tiny run (the shipped config), one training step."""
    root = tmp_path_factory.mktemp("runs")
    run = [
        "train.epochs=1",
        "train.max_steps=1",
        "train.progress=false",
        "train.tensorboard=false",
        f"train.run_dir={root}",
        "train.run_name=r",
    ]
    assert main(["train", "--config", "digits_csnn", *run]) == 0
    return root / "r" / "last.pt"


def test_cli_exports_a_checkpoint_that_imports_to_the_same_model(checkpoint, tmp_path, capsys):
    out = tmp_path / "model.nir"
    args = ["export", "--checkpoint", str(checkpoint), "--format", "nir", "--dt", "1e-4"]
    assert main([*args, str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    graph = nir.read(out)
    assert float(graph.metadata["dt"]) == 1e-4
    assert list(graph.nodes["input"].input_type["input"]) == [1, 8, 8]  # from the run's data
    trainer = trainer_from_checkpoint(checkpoint)
    x = encoded_test_batch(trainer, 4).double()
    model, imported = trainer.model.double(), from_nir(graph).double()
    with torch.no_grad():
        torch.testing.assert_close(imported(x), model(x), rtol=0, atol=1e-9)


def test_cli_errors_are_one_line_with_exit_code_2(checkpoint, tmp_path, capsys):
    assert main(["export", "--checkpoint", str(tmp_path / "none.pt"), str(tmp_path / "o.nir")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.pt" in err[0] and "does not exist" in err[0]
    assert main(["export", "--checkpoint", str(checkpoint), "--dt", "-1", "o.nir"]) == 2
    assert "dt must be a positive" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(checkpoint), str(tmp_path / "no" / "o.nir")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["export", "--checkpoint", str(checkpoint), "--format", "onnx", "o.nir"])
    assert info.value.code == 2


def test_cli_refuses_a_soft_reset_unless_approximate(tmp_path, capsys):
    """The refusal and the ``--approximate`` flag through the public entry point."""
    run = [
        "train.epochs=1",
        "train.max_steps=1",
        "train.progress=false",
        "train.tensorboard=false",
        f"train.run_dir={tmp_path}",
        "train.run_name=soft",
        "model.neuron_kwargs={reset: subtract}",
    ]
    assert main(["train", "--config", "digits_csnn", *run]) == 0
    ckpt, out = str(tmp_path / "soft" / "last.pt"), str(tmp_path / "soft.nir")
    capsys.readouterr()
    assert main(["export", "--checkpoint", ckpt, out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "layer 1 (LIF)" in err[0] and "subtract (soft)" in err[0]
    with pytest.warns(UserWarning, match="exported with approximate=True as a hard reset"):
        assert main(["export", "--checkpoint", ckpt, "--approximate", out]) == 0
    assert isinstance(nir.read(out).nodes["1"], nir.LIF)


def test_cli_without_the_nir_package_says_how_to_install_it(checkpoint, tmp_path, capsys):
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "nir", None)  # `import nir` now fails as if absent
        assert main(["export", "--checkpoint", str(checkpoint), str(tmp_path / "o.nir")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'spikeforge[nir]'" in err[0]


def test_export_checkpoint_refuses_an_unknown_format(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="--format must be one of nir, got 'onnx'"):
        export_checkpoint(checkpoint, tmp_path / "o", format="onnx")
