import pytest
import torch

from spikeforge.methods.conversion import (
    CALIBRATIONS,
    MaxRecipe,
    PercentileRecipe,
    make_recipe,
)
from spikeforge.methods.conversion.calibrate import batches_of


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


def test_batches_of_splits_tensors_and_takes_inputs_of_pairs():
    x = torch.arange(10.0).view(5, 2)
    assert [b.tolist() for b in batches_of(x, 2)] == [[[0, 1], [2, 3]], [[4, 5], [6, 7]], [[8, 9]]]
    pairs = [(x[:3], torch.zeros(3)), [x[3:], None], x[:0], x[:1]]
    got = list(batches_of(pairs))
    assert [len(b) for b in got] == [3, 2, 1]  # labels dropped, the empty batch skipped
    assert torch.equal(torch.cat(got[:2]), x)
    assert list(batches_of(torch.zeros(0, 2))) == []


@pytest.mark.parametrize("recipe", [MaxRecipe(), PercentileRecipe(percentile=100.0)])
def test_a_nan_activation_never_passes_for_a_silent_site(recipe):
    # A site that never activates gets λ = 1; a NaN must not be mistaken for that.
    silent = recipe.observer()
    silent(torch.zeros(4, 3))
    assert float(silent.threshold()) == 1.0
    observer = recipe.observer()
    observer(torch.full((4, 3), float("nan")))
    assert torch.isnan(observer.threshold())
