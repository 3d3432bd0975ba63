"""DECOLLE-style local learning: each layer learns from its own random readout only."""

import torch
from torch import nn

from spikeforge.engine.config import load_config
from spikeforge.engine.run import make_trainer
from spikeforge.layers import fold
from spikeforge.methods import DECOLLE, METHODS, OTTT
from spikeforge.methods.decolle import LocalReadouts
from spikeforge.neurons import LI, LIF


def _net(seed: int = 0, readout: bool = False) -> nn.Module:
    torch.manual_seed(seed)
    layers = [fold(nn.Linear(6, 12)), LIF(v_th=0.3), fold(nn.Linear(12, 10)), LIF(v_th=0.3),
              fold(nn.Linear(10, 3))]  # fmt: skip
    if readout:
        layers.append(LI())
    return nn.Sequential(*layers).double()


def _data():
    g = torch.Generator().manual_seed(1)
    return 6.0 * torch.rand(5, 4, 6, generator=g, dtype=torch.float64), torch.tensor([0, 1, 2, 1])


def test_no_gradient_crosses_a_layer():
    x, y = _data()
    a, b = _net(), _net()
    with torch.no_grad():  # change everything after the first spiking layer
        b[2].layer.weight.mul_(-2.0)
        b[4].layer.weight.add_(0.5)
    DECOLLE(objective="ce_per_step")(a, x, y)
    DECOLLE(objective="ce_per_step")(b, x, y)
    first_a, first_b = a[0].layer.weight.grad, b[0].layer.weight.grad
    assert first_a.abs().sum() > 0 and torch.allclose(first_a, first_b, rtol=1e-12)
    # OTTT's gradient of the first layer does depend on the layers after it
    c, d = _net(), _net()
    with torch.no_grad():
        d[2].layer.weight.mul_(-2.0)
    OTTT(objective="ce_per_step")(c, x, y)
    OTTT(objective="ce_per_step")(d, x, y)
    assert not torch.allclose(c[0].layer.weight.grad, d[0].layer.weight.grad, rtol=1e-3)


def test_every_layer_learns_and_an_li_readout_keeps_the_output_loss():
    x, y = _data()
    for readout in (False, True):
        net = _net(readout=readout)
        terms = DECOLLE(objective="ce_per_step")(net, x, y)
        assert terms["output"].shape == (5, 4, 3)
        for name, p in net.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, (readout, name)


def test_the_random_readouts_are_seeded_per_layer():
    x, y = _data()
    grads = []
    for seed in (0, 0, 1):
        net = _net()
        DECOLLE(objective="ce_per_step", seed=seed)(net, x, y)
        grads.append(net[0].layer.weight.grad)
    assert torch.equal(grads[0], grads[1]) and not torch.allclose(grads[0], grads[2])
    assert isinstance(METHODS.create("decolle"), DECOLLE)


def test_decolle_trains_digits_through_the_config(tmp_path):
    overrides = ["train.method=decolle", "train.objective=ce_per_step", "train.epochs=2",
                 "train.progress=false", "data.batch_size=256", "model.kwargs={widths: [4, 8]}",
                 f"train.run_dir={tmp_path}"]  # fmt: skip
    trainer = make_trainer(load_config(None, overrides), tmp_path / "r")
    assert trainer.method.readout_seed == 0
    assert trainer.fit()["test_acc"] > 0.3  # 10 classes: chance is 0.1


def test_the_neuron_whose_output_is_the_models_gets_no_local_readout():
    net = _net(readout=True)
    x, _ = _data()
    with LocalReadouts(net, seed=0) as readouts:
        out = net(x)
        assert not out.requires_grad  # what the next layer (here: nobody) would see
        attached, local = readouts.split(out)
    assert attached.requires_grad and torch.equal(attached, out)
    assert set(local) == {"1", "3"}  # the two LIF layers; the LI readout "5" is the output
