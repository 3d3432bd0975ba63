"""T-RevSNN (``models/trevsnn.py``, METHODS §11): the spike function Q, weight
standardisation, the |α| clamp, the shared convs, the stem run once, the heads (eval uses
the last), the presets, input checks and operations per time step."""

import math

import pytest
import torch

from spikeforge.analysis.ops import count_operations
from spikeforge.models import MODELS, create
from spikeforge.models.output import readout_kind
from spikeforge.models.trevsnn import (
    ALPHA_MIN,
    TRevSNN,
    WSConv2d,
    operation_summary,
    spike_q,
    step_operations,
)


def _net(**kw) -> TRevSNN:
    torch.manual_seed(0)
    options = {"channels": (4, 6, 8, 8), "timesteps": 3, "input_size": 8, "in_channels": 1}
    return create("trevsnn_cifar", num_classes=5, **{**options, **kw})


def _images(batch: int = 3, seed: int = 0) -> torch.Tensor:
    return 2 * torch.rand(batch, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_q_fires_at_half_and_passes_gradient_on_zero_to_one():
    x = torch.tensor([-0.2, 0.0, 0.49, 0.5, 0.8, 1.0, 1.7], requires_grad=True)
    s = spike_q(x)
    assert s.tolist() == [0, 0, 0, 1, 1, 1, 1]  # floor(clip(x, 0, 1) + 0.5); 0.5 fires
    s.backward(torch.arange(1.0, 8.0))
    assert x.grad.tolist() == [0, 2, 3, 4, 5, 6, 0]  # straight through on [0, 1] only


def test_weight_standardisation_matches_the_formula():
    torch.manual_seed(0)
    conv = WSConv2d(3, 2, 3)
    with torch.no_grad():
        conv.gain.copy_(torch.tensor([2.0, 0.5]).view(2, 1, 1, 1))
    w = conv.weight.detach().double()
    for o in range(2):
        flat = w[o].flatten()
        mean, var = flat.mean(), ((flat - flat.mean()) ** 2).mean()  # biased variance
        want = conv.gain[o].item() * (w[o] - mean) / math.sqrt(var + 1e-6) / math.sqrt(27)
        assert torch.allclose(conv.standardized_weight()[o].double(), want, atol=1e-6)
    x = torch.randn(1, 3, 5, 5)
    want = torch.nn.functional.conv2d(x, conv.standardized_weight(), conv.bias)
    assert torch.allclose(conv(x), want)


def test_alpha_magnitude_is_clamped_with_its_sign_before_every_forward():
    model = _net()
    alpha = model.columns[1].alphas[0]
    with torch.no_grad():
        alpha[:4] = torch.tensor([0.0, 1e-5, -1e-5, -0.3])
    model(_images())
    assert alpha[:4].tolist() == pytest.approx([ALPHA_MIN, ALPHA_MIN, -ALPHA_MIN, -0.3])
    assert not hasattr(model.columns[0], "alphas")  # c^0 = 0: the first column has none
    assert all(a.detach().abs().min() >= ALPHA_MIN for c in model.columns[1:] for a in c.alphas)


def test_the_last_blocks_second_convs_are_one_tensor_shared_by_all_columns():
    model = _net(blocks=2)
    for level in range(4):
        shared = model.shared[level]
        for column in model.columns:
            blocks = column.levels[level].blocks
            assert blocks[-1].pw2.weight is shared.pw.weight
            assert blocks[-1].dw2.weight is shared.dw.weight
            assert blocks[0].pw2.weight is not shared.pw.weight  # block 1 owns its convs
        firsts = {id(column.levels[level].blocks[0].pw2.weight) for column in model.columns}
        assert len(firsts) == len(model.columns)
    names = [n for n, _ in model.named_parameters()]
    assert sum(n.startswith("shared.") for n in names) == 4 * 5  # pw weight/bias/gain, dw w/b


def test_the_stem_runs_once_for_a_static_or_direct_encoded_image():
    model = _net()
    calls = []
    model.stem.register_forward_hook(lambda m, a, o: calls.append(a[0].shape))
    x = _images()
    model.train()
    torch.manual_seed(0)
    static = model(x)
    direct = x.unsqueeze(0).expand(3, *x.shape)
    torch.manual_seed(0)
    repeated = model(direct)
    assert calls == [x.shape, x.shape]  # once per input, for one image batch
    assert torch.allclose(static, repeated)
    frames = torch.stack([x, _images(seed=1), _images(seed=2)])
    model(frames)  # a real sequence: each column gets its own frame (one stem call)
    assert calls[-1] == (9, 1, 8, 8)


def test_training_gives_one_head_per_step_and_eval_only_the_last():
    model = _net()
    x = _images()
    model.train()
    assert model(x).shape == (3, 3, 5)
    model.eval()
    called = []
    for head in model.heads[:-1]:
        head.register_forward_hook(lambda m, a, o: called.append(m))
    out = model(x)
    assert out.shape == (1, 3, 5) and not called  # the analog heads are not run
    tops = model.forward_features(x)
    assert torch.equal(out[0], model.heads[-1](tops[-1]))
    assert type(model.heads[-1]).__name__ == "SpikingHead"


def test_reversible_and_plain_training_forward_agree_and_eval_needs_no_graph():
    model = _net()
    model.train()
    x = _images()
    torch.manual_seed(0)
    a = model(x)
    model.reversible = False
    b = model(x)
    assert torch.allclose(a, b, atol=1e-6)
    model.eval()
    with torch.no_grad():
        assert not model(x).requires_grad


def test_presets_have_the_papers_channels_and_parameter_count():
    assert "trevsnn_tiny" in MODELS.names() and "trevsnn_small" in MODELS.names()
    small = create("trevsnn_small", num_classes=1000)
    assert small.channels == (96, 192, 384, 512) and small.timesteps == 4
    # The official log: 32.3 M parameters including the heads.
    assert round(sum(p.numel() for p in small.parameters()) / 1e6, 1) == 32.3
    assert small.columns[0].levels[0].blocks[0].dw1.kernel_size == (5, 5)
    assert create("trevsnn_tiny", num_classes=10).channels == (64, 128, 256, 384)
    assert readout_kind(small) == "membrane"


@pytest.mark.parametrize(("size", "sides"), [(8, (8, 4, 2, 2)), (32, (16, 8, 4, 4))])
def test_the_small_image_stem_keeps_stage_sides_usable(size, sides):
    torch.manual_seed(0)
    model = create("trevsnn_cifar", num_classes=10, in_channels=3, input_size=size)
    from spikeforge.models.trevsnn_reversible import column_step

    model.eval()
    with torch.no_grad():
        xs = model.stem_inputs(torch.rand(1, 3, size, size))
        states = column_step(model.columns[0], xs[0], None)
    assert tuple(s.shape[-1] for s in states) == sides


def test_bad_inputs_and_options_name_expected_and_received():
    model = _net()
    with pytest.raises(ValueError, match=r"T=3 columns .* 4 steps .* data.timesteps=3"):
        model(torch.rand(4, 2, 1, 8, 8))
    with pytest.raises(
        ValueError, match=r"\[B, 1, H, W\] or \[T, B, 1, H, W\], got shape \(2, 3, 8, 8\)"
    ):
        model(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="set model.neuron=q, got 'lif'"):
        create("trevsnn_cifar", neuron="lif")
    with pytest.raises(ValueError, match="unknown surrogate 'atann'"):
        create("trevsnn_cifar", surrogate={"name": "atann"})
    with pytest.raises(ValueError, match="channels must be 4 stage widths"):
        create("trevsnn_cifar", channels=(4, 4, 4))
    with pytest.raises(ValueError, match="blocks must be an int >= 1, got 0"):
        create("trevsnn_cifar", blocks=0)


def test_operations_per_step_add_up_to_the_whole_inference():
    model = _net(timesteps=2)
    model.eval()
    x = _images(batch=2).unsqueeze(0).expand(2, 2, 1, 8, 8)
    parts = step_operations(model, x)
    whole = count_operations(model, x)
    assert len(parts["steps"]) == 2
    pieces = [parts["stem"], *parts["steps"], parts["head"]]
    assert sum(c.mac_ops for c in pieces) == pytest.approx(whole.mac_ops)
    assert sum(c.ac_ops for c in pieces) == pytest.approx(whole.ac_ops)
    # the stem's convs see analog pixels: MACs only; a column's first convs see spikes
    assert parts["stem"].ac_ops == 0 and parts["stem"].mac_ops > 0
    assert all(c.ac_ops > 0 for c in parts["steps"])
    # later columns add the multi-level links U: more dense work than the first
    assert parts["steps"][1].total_macs > parts["steps"][0].total_macs
    summary = operation_summary(model, x)
    assert summary["total"]["mac"] == pytest.approx(whole.mac_ops)


def _train(tmp_path, name: str, *extra: str) -> None:
    from spikeforge.cli import main

    tiny = ["model.kwargs.channels=[4,4,4,4]", "model.kwargs.blocks=1", "data.batch_size=512"]
    run = ["train.epochs=1", "train.progress=false", "train.tensorboard=false"]
    run += [f"train.run_dir={tmp_path}", f"train.run_name={name}", *tiny, *extra]
    assert main(["train", "--config", "digits_trevsnn", *run]) == 0


def test_the_digits_config_trains_through_the_cli_and_energy_reads_it(tmp_path, capsys):
    import json

    from spikeforge.cli import main

    _train(tmp_path, "rev")
    payload = torch.load(tmp_path / "rev" / "last.pt", weights_only=True)
    assert payload["config"]["model"]["name"] == "trevsnn_cifar"
    assert payload["config"]["model"]["kwargs"]["reversible"] is True
    assert payload["config"]["train"]["objective"] == "trevsnn"
    metrics = (tmp_path / "rev" / "metrics.jsonl").read_text().splitlines()
    assert 0 <= json.loads(metrics[-1])["test_acc"] <= 1  # evaluated after the epoch
    out = tmp_path / "energy.json"
    capsys.readouterr()
    checkpoint = str(tmp_path / "rev" / "last.pt")
    assert main(["energy", "--checkpoint", checkpoint, "--samples", "8", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "columns.3.levels.3" in table and "heads.3.fc1" in table
    assert "heads.0" not in table  # eval runs only the last head
    energy = json.loads(out.read_text())
    # the ANN twin runs every column once (each step is its own sub-network): E_MAC · MACs
    dense = sum(row["macs"] for row in energy["layers"])
    assert energy["ann_pj"] == pytest.approx(energy["preset"]["e_mac_pj"] * dense)


@pytest.mark.slow
def test_the_digits_config_trains_the_same_net_by_bptt_through_the_cli(tmp_path):
    _train(tmp_path, "bptt", "model.kwargs.reversible=false")
    payload = torch.load(tmp_path / "bptt" / "last.pt", weights_only=True)
    assert payload["config"]["model"]["kwargs"]["reversible"] is False


@pytest.mark.parametrize(
    ("config", "channels", "size"), [("digits_trevsnn", 1, 8), ("cifar10_small_trevsnn", 3, 32)]
)
def test_shipped_configs_build_the_cpu_preset_with_t_equal_to_the_data(config, channels, size):
    from spikeforge.engine.config import load_config

    cfg = load_config(config)
    assert (cfg.model.name, cfg.model.neuron, cfg.train.objective) == (
        "trevsnn_cifar",
        "q",
        "trevsnn",
    )
    assert cfg.model.kwargs["timesteps"] == cfg.data.timesteps and cfg.model.kwargs["reversible"]
    torch.manual_seed(0)
    model = create(
        cfg.model.name, num_classes=10, in_channels=channels, input_size=size, **cfg.model.kwargs
    )
    model.train()
    x = torch.rand(2, channels, size, size)
    assert model(x.expand(cfg.data.timesteps, *x.shape)).shape == (cfg.data.timesteps, 2, 10)


@pytest.mark.parametrize("reversible", [True, False])
def test_two_forwards_before_one_backward(reversible):
    # the |α| clamp must not bump α's version when nothing changes (BPTT saved α)
    model = _net(reversible=reversible)
    model.train()
    first, second = model(_images()), model(_images(seed=1))
    (first.sum() + second.sum()).backward()
    assert model.columns[1].alphas[0].grad is not None
