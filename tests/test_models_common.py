"""What every model of the zoo shares (``models/_common.py``): the time-major input check,
the per-step classifier, and the one place factories pass neuron settings
(``neuron_settings``: surrogate resolved once, conflicts refused, per-layer widths)."""

import pytest
import torch
from torch import nn

from spikeforge.layers import TimeFold
from spikeforge.models import MODELS, create
from spikeforge.models._common import check_image_sequence, classifier, neuron_settings
from spikeforge.neurons import LIF
from spikeforge.surrogates import ATan, Sigmoid


def test_the_input_check_accepts_only_time_major_image_batches():
    check_image_sequence(torch.zeros(2, 3, 4, 8, 8), 4)  # [T, B, C, H, W]: fine
    check_image_sequence(torch.zeros(1, 1, 1, 5, 7), 1)  # any H, W
    with pytest.raises(
        ValueError, match=r"\[T, B, 4, H, W\] \(time first\), got shape \(3, 4, 8, 8\)"
    ):
        check_image_sequence(torch.zeros(3, 4, 8, 8), 4)  # a batch without time
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 8, 8, 4\)"):
        check_image_sequence(torch.zeros(2, 3, 8, 8, 4), 4)  # channels last
    with pytest.raises(TypeError, match="input must be a tensor .* got list"):
        check_image_sequence([[0.0]], 1)


def test_bad_input_shapes_name_expected_and_received():
    model = create("sew_resnet18", base_width=4, in_channels=2)
    with pytest.raises(ValueError, match=r"\[T, B, 2, H, W\].*got shape \(2, 3, 16, 16\)"):
        model(torch.zeros(2, 3, 16, 16))
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 3, 8, 8\)"):
        model(torch.zeros(2, 3, 3, 8, 8))
    with pytest.raises(TypeError, match="must be a tensor"):
        model([0.0])


def test_classifier_is_a_per_step_linear_layer():
    torch.manual_seed(0)
    head = classifier(6, 3)
    assert isinstance(head, TimeFold)
    x = torch.randn(4, 2, 6)  # [T, B, features]
    (linear,) = [m for m in head.modules() if isinstance(m, nn.Linear)]
    assert (linear.in_features, linear.out_features) == (6, 3)
    out = head(x)
    assert out.shape == (4, 2, 3)
    for t in range(4):  # each step alone through the same weights
        torch.testing.assert_close(out[t], x[t] @ linear.weight.T + linear.bias)


def test_classifier_with_no_classes_is_the_identity_and_bad_counts_are_refused():
    head = classifier(6, 0)
    assert isinstance(head, nn.Identity)
    x = torch.randn(2, 1, 6)
    assert head(x) is x
    for bad in (-1, 2.0, "10"):
        with pytest.raises(ValueError, match="num_classes must be an int >= 0"):
            classifier(6, bad)  # type: ignore[arg-type]


# -- the one place model factories pass neuron settings: neuron_settings ----------------
ATAN4 = {"name": "atan", "alpha": 4}


def test_the_surrogate_is_resolved_once_and_merged_into_the_neuron_options():
    settings = neuron_settings("lif", ATAN4, {"tau": 3.0})
    assert settings.options == {"tau": 3.0, "surrogate": ATan(alpha=4.0)}
    neuron = settings()
    assert isinstance(neuron, LIF) and neuron.surrogate == ATan(alpha=4.0) and neuron.tau == 3.0
    assert neuron_settings("lif").surrogate == ATan()  # neither given: atan
    assert neuron_settings("lif", "sigmoid").surrogate == Sigmoid()
    # given only in neuron_kwargs it is used (one place is enough) ...
    assert neuron_settings("lif", None, {"surrogate": ATAN4}).surrogate == ATan(alpha=4.0)
    # ... and in both places it must be the same surrogate
    same = neuron_settings("lif", "atan", {"surrogate": {"name": "atan", "alpha": 2.0}})
    assert same.surrogate == ATan()


def test_two_different_surrogates_raise_instead_of_one_silently_winning():
    with pytest.raises(ValueError, match=r"given twice.*ATan\(alpha=2.0\).*Sigmoid"):
        neuron_settings("lif", "atan", {"surrogate": "sigmoid"})
    with pytest.raises(ValueError, match="given twice"):
        create("csnn_tiny", surrogate=ATAN4, neuron_kwargs={"surrogate": "atan"})
    with pytest.raises(ValueError, match="neuron_kwargs.surrogate: unknown surrogate 'nope'"):
        neuron_settings("lif", None, {"surrogate": "nope"})
    with pytest.raises(ValueError, match="surrogate 'atan' has no option.*beta.*options: alpha"):
        create("spiking_mlp", in_features=4, surrogate={"name": "atan", "beta": 1})


def test_a_neuron_sized_by_its_layer_gets_each_layers_width():
    settings = neuron_settings("rlif")
    assert settings.takes_width and not neuron_settings("lif").takes_width
    assert settings(features=5).recurrent_weight.shape == (5,)
    wide = neuron_settings("rlif", None, {"all_to_all": True})(features=3)
    assert wide.recurrent_weight.shape == (3, 3)
    assert isinstance(neuron_settings("lif")(features=5), LIF)  # others ignore the width
    with pytest.raises(ValueError, match="features=4 conflicts with a layer 5 wide"):
        neuron_settings("rlif", None, {"features": 4})(features=5)
    with pytest.raises(ValueError, match="'rlif' is sized by its layer's width.*spiking_mlp"):
        settings()  # a convolution's neuron: no width to give
    assert neuron_settings("rlif", None, {"features": 4})().recurrent_weight.shape == (4,)
    with pytest.raises(ValueError, match="'rlif' is sized by its layer's width"):
        create("csnn_tiny", neuron="rlif")


# Small options per zoo model: building them is enough to see their neurons' surrogate.
SMALL = {
    "csnn_tiny": {"widths": (2, 3)},
    "joint_csnn": {"widths": (2, 3)},
    "spiking_mlp": {"in_features": 6, "hidden_sizes": (4, 3)},
    "eprop_rsnn": {"in_features": 6, "hidden": 4},
    "equilibrium_snn": {"in_features": 6, "width": 4, "neuron": "if"},
    "spikformer": {"embed_dim": 16, "depth": 1, "heads": 2, "input_size": 8},
    "spikformer_v2": {"embed_dim": 16, "depth": 1, "heads": 2, "input_size": 8},
    "spikformer_v2_tiny": {"input_size": 8},
    "spikformer_v2_mae": {"embed_dim": 16, "depth": 1, "heads": 2, "input_size": 8},
    "spikformer_v2_mae_tiny": {"input_size": 8},
    "spiking_vgg11": {"width_mult": 0.125},
    "spiking_vgg16": {"width_mult": 0.125},
    "spiking_vgg_small": {"width_mult": 0.25},
    "trevsnn_tiny": {"channels": (4, 4, 4, 4)},
    "trevsnn_small": {"channels": (4, 4, 4, 4)},
    "trevsnn_cifar": {"channels": (4, 4, 4, 4)},
}
# ``converted`` (registered by the engine) is covered in test_engine_pretrained.py.
ZOO = [name for name in MODELS.names() if name != "converted"]


def _small(name: str) -> dict:
    if name in SMALL:
        return dict(SMALL[name])
    return {"base_width": 4} if "resnet" in name and not name.startswith("ann_") else {}


# Models without a surrogate gradient: ANN twins, the equilibrium net (implicit
# gradients), STDP's winner-take-all net (nothing is differentiated), T-RevSNN (Q's
# gradient is straight-through).
NO_SURROGATE = {"equilibrium_snn", "stdp_wta", "trevsnn_tiny", "trevsnn_small", "trevsnn_cifar"}
# stdp_wta accepts `surrogate` unchecked (it does not go through neuron_settings yet).
UNCHECKED = {"stdp_wta"}


@pytest.mark.parametrize("name", ZOO)
def test_every_zoo_model_accepts_a_surrogate_with_its_options(name):
    torch.manual_seed(0)
    model = create(name, num_classes=3, surrogate=ATAN4, **_small(name))
    surrogates = [m.__dict__["surrogate"] for m in model.modules() if "surrogate" in m.__dict__]
    if not name.startswith("ann_") and name not in NO_SURROGATE:
        assert surrogates, f"{name} holds no surrogate"
    assert all(s == ATan(alpha=4.0) for s in surrogates), (name, set(surrogates))
    if name not in UNCHECKED:
        with pytest.raises(ValueError, match="unknown surrogate 'atann'; registered: atan"):
            create(name, num_classes=3, surrogate={"name": "atann"}, **_small(name))
