"""Converted SNNs evaluated over T (methods/conversion/evaluate.py)."""

import pytest
import torch

from spikeforge.data import sample_indices
from spikeforge.engine.pretrained import load_ann
from spikeforge.methods.conversion import convert
from spikeforge.methods.conversion.evaluate import accuracy_vs_timesteps, calibration_inputs

pytestmark = pytest.mark.usefixtures("one_thread")


def test_one_long_run_gives_every_shorter_t(digits_ann_checkpoint):
    ann, _, train_set, test_set = load_ann(digits_ann_checkpoint)
    calibration = torch.stack([train_set[i][0] for i in range(128)])
    snn = convert(ann, calibration, "max")
    result = accuracy_vs_timesteps(snn, test_set, (3, 8), batch_size=50, chunk=3, limit=120)
    chosen = [int(i) for i in sample_indices(len(test_set), 120)]  # the subset `limit` takes
    x = torch.stack([test_set[i][0] for i in chosen])
    y = torch.as_tensor([test_set[i][1] for i in chosen])
    for steps in (3, 8):
        out = snn(x.expand(steps, *x.shape))
        accuracy = float((out.mean(0).argmax(-1) == y).float().mean())
        assert result[steps]["accuracy"] == pytest.approx(accuracy)
        rates: list[torch.Tensor] = []

        def record(module, inputs, output, store=rates):
            store.append(output.ne(0).float())

        hooks = [n.register_forward_hook(record) for n in snn.neurons().values()]
        snn(x.expand(steps, *x.shape))
        for hook in hooks:
            hook.remove()
        expected = sum(float(r.sum()) for r in rates) / sum(r.numel() for r in rates)
        assert result[steps]["firing_rate"] == pytest.approx(expected)


def test_calibration_inputs_cover_a_class_sorted_dataset():
    from spikeforge.data.datasets.base import ArrayDataset

    # Image i holds the value of its class; classes stored one after the other.
    labels = torch.arange(4).repeat_interleave(50)
    images = labels.float().view(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous().numpy()
    dataset = ArrayDataset(images, labels.tolist(), ["a", "b", "c", "d"])
    batch = calibration_inputs(dataset, 40)
    assert batch.shape == (40, 1, 2, 2)
    assert set(batch[:, 0, 0, 0].tolist()) == {0.0, 1.0, 2.0, 3.0}
