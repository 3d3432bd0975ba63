import pytest
import torch

from spikeforge.methods.conversion import (
    CALIBRATIONS,
    MaxRecipe,
    PercentileRecipe,
    calibrate,
    convert,
    make_recipe,
)
from spikeforge.models import create


def _feed(recipe, batches):
    observer = recipe.observer()
    for batch in batches:
        observer(batch)
    return observer.threshold()


def test_max_recipe_per_layer_and_per_channel(generator):
    batches = [
        torch.rand(4, 3, 5, 5, generator=generator) * torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1)
        for _ in range(3)
    ]
    stacked = torch.cat(batches)
    assert _feed(MaxRecipe(), batches) == stacked.max()
    per_channel = _feed(MaxRecipe(per_channel=True), batches)
    torch.testing.assert_close(per_channel, stacked.transpose(0, 1).flatten(1).amax(1))


def test_percentile_recipe_matches_the_exact_quantile(generator):
    batches = [torch.relu(torch.randn(8, 4, 3, 3, generator=generator)) for _ in range(2)]
    stacked = torch.cat(batches)
    recipe = PercentileRecipe(90.0)
    expected = torch.quantile(stacked.flatten(), 0.9, interpolation="nearest")
    torch.testing.assert_close(_feed(recipe, batches), expected)
    per_channel = _feed(PercentileRecipe(90.0, per_channel=True), batches)
    channels = stacked.transpose(0, 1).flatten(1)
    torch.testing.assert_close(
        per_channel, torch.quantile(channels, 0.9, dim=1, interpolation="nearest")
    )
    assert _feed(PercentileRecipe(100.0), batches) == stacked.max()


def test_percentile_subsampling_stays_close_on_large_data(generator):
    data = torch.rand(64, 16, 32, 32, generator=generator)  # 1M values, uniform
    estimate = _feed(PercentileRecipe(99.0, max_values=20_000), data.split(16))
    assert abs(float(estimate) - 0.99) < 0.01


def test_dead_sites_get_threshold_one():
    zeros = torch.zeros(4, 2, 3, 3)
    assert _feed(MaxRecipe(), [zeros]) == 1.0
    torch.testing.assert_close(_feed(MaxRecipe(per_channel=True), [zeros]), torch.ones(2))


def test_recipes_by_name_and_their_errors():
    assert set(CALIBRATIONS.names()) >= {"max", "percentile"}
    recipe = make_recipe("percentile", percentile=99.0, per_channel=True)
    assert isinstance(recipe, PercentileRecipe) and recipe.per_channel
    assert "99.0" in repr(recipe) and "per_channel" in repr(recipe)
    assert make_recipe(recipe) is recipe
    with pytest.raises(ValueError, match="unknown calibration recipe 'mean'"):
        make_recipe("mean")
    with pytest.raises(ValueError, match=r"percentile must be in \(0, 100\]"):
        PercentileRecipe(0.0)
    with pytest.raises(TypeError, match="ready recipe"):
        make_recipe(recipe, percentile=3)
    with pytest.raises(RuntimeError, match="no activations observed"):
        MaxRecipe().observer().threshold()


def test_calibrate_sets_thresholds_per_site_and_restores_training_flags(generator):
    ann = create("ann_csnn_tiny").eval()
    x = torch.rand(32, 1, 8, 8, generator=generator)
    snn = convert(ann, None)
    snn.train()
    snn.body.get_submodule("layers.2").training = False  # a mixed pattern must come back as it was
    flags = {name: m.training for name, m in snn.named_modules()}
    scales = calibrate(snn, x, "max", batch_size=8)
    assert {name: m.training for name, m in snn.named_modules()} == flags
    acts = {}
    hooks = [
        m.register_forward_hook(lambda mod, i, o, n=n: acts.setdefault(n, o))
        for n, m in snn.neurons().items()
    ]
    snn.analog(x)
    for h in hooks:
        h.remove()
    for name, scale in scales.items():
        torch.testing.assert_close(scale, acts[name].max())
        torch.testing.assert_close(snn.neurons()[name].scale, scale)
    per_channel = calibrate(snn, [(x[:16], None), (x[16:], None)], "max", per_channel=True)
    assert all(
        s.shape == (n.scale.shape[0],)
        for s, n in zip(per_channel.values(), snn.neurons().values(), strict=True)
    )
    with pytest.raises(ValueError, match="calibration data is empty"):
        calibrate(snn, torch.zeros(0, 1, 8, 8), "max")
