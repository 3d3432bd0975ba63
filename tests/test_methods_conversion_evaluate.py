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
    # the pieces it runs in do not change the result (the defaults: 64 samples x 8 steps)
    assert accuracy_vs_timesteps(snn, test_set, (3, 8), limit=120) == result
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


class _StopAfter(torch.utils.data.Dataset):
    """``dataset``, raising KeyboardInterrupt at the ``stop``-th item read (a Ctrl-C in the
    middle of a sweep)."""

    def __init__(self, dataset, stop: int | None) -> None:
        self.dataset, self.stop, self.reads = dataset, stop, 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        self.reads += 1
        if self.stop is not None and self.reads > self.stop:
            raise KeyboardInterrupt
        return self.dataset[i]


def test_an_interrupted_sweep_resumes_from_its_tallies_to_the_same_result(
    digits_ann_checkpoint, tmp_path
):
    ann, _, train_set, test_set = load_ann(digits_ann_checkpoint)
    snn = convert(ann, torch.stack([train_set[i][0] for i in range(128)]), "max")
    settings = {"timesteps": (2, 5), "batch_size": 20, "chunk": 2, "limit": 100}
    whole = accuracy_vs_timesteps(snn, test_set, **settings)
    tallies = tmp_path / "tallies.pt"
    cut = _StopAfter(test_set, stop=50)  # during the third batch of 20
    with pytest.raises(KeyboardInterrupt):
        accuracy_vs_timesteps(snn, cut, **settings, resume=tallies)
    assert torch.load(tallies, weights_only=True)["batches"] == 2
    runs = []
    real_run = snn.run
    snn.run = lambda x, state: runs.append(x.shape[1]) or real_run(x, state)
    assert accuracy_vs_timesteps(snn, test_set, **settings, resume=tallies) == whole
    del snn.run
    # only the three batches not counted before ran (three chunks each: T = 5, chunk 2)
    assert runs == [20] * 9
    assert torch.load(tallies, weights_only=True)["batches"] == 5
    # another model (one threshold changed) does not take these tallies: a fresh sweep
    with torch.no_grad():
        next(iter(snn.neurons().values())).scale.mul_(1.5)
    other = accuracy_vs_timesteps(snn, test_set, **settings, resume=tallies)
    assert other == accuracy_vs_timesteps(snn, test_set, **settings)
    assert other != whole
