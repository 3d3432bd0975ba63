"""Text data: the word tokenizer, padding with attention masks, batching by length."""

import pytest
import torch

from spikeforge.data.text import (
    LengthBatchSampler,
    WordTokenizer,
    collate_text,
    make_text_loader,
    pad_batch,
)


def test_vocabulary_is_frequency_ranked_and_deterministic():
    texts = ["b a c", "a b", "a d"]
    tok = WordTokenizer.build(texts)
    assert tok.itos == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "c", "d"]
    assert WordTokenizer.build(list(reversed(texts))).itos == tok.itos
    assert WordTokenizer.build(texts, min_freq=2).itos[4:] == ["a", "b"]
    assert WordTokenizer.build(texts, max_size=1).itos[4:] == ["a"]


def test_encode_adds_cls_sep_maps_unknown_lowercases_and_truncates():
    tok = WordTokenizer(["it", "'s", "good"], max_len=5)
    assert tok.encode("It 's GOOD").tolist() == [2, 4, 5, 6, 3]
    assert tok.encode("it 's very good").tolist() == [2, 4, 5, 1, 3]  # 'very' -> [UNK], cut
    assert tok.encode("").tolist() == [2, 3]
    assert tok.decode(torch.tensor([2, 4, 1, 3, 0, 0])) == ["[CLS]", "it", "[UNK]", "[SEP]"]
    with pytest.raises(ValueError, match="max_len"):
        WordTokenizer(["a"], max_len=2)
    with pytest.raises(TypeError, match="expects a str"):
        tok.encode(3)


def test_pad_batch_pads_to_the_longest_and_masks_padding():
    tokens, mask = pad_batch([torch.tensor([2, 5, 3]), torch.tensor([2, 3])])
    assert tokens.tolist() == [[2, 5, 3], [2, 3, 0]]
    assert mask.tolist() == [[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]]
    t, m, y = collate_text([(torch.tensor([2, 3]), 1), (torch.tensor([2, 7, 8, 3]), 0)])
    assert t.shape == (2, 4) and m.sum().item() == 6 and y.tolist() == [1, 0]
    with pytest.raises(ValueError, match="non-empty 1-D"):
        pad_batch([torch.tensor([[1, 2]])])
    with pytest.raises(ValueError, match="at least one"):
        pad_batch([])


def test_length_batches_cover_every_index_once_and_group_lengths():
    lengths = [
        int(x) for x in torch.randint(2, 40, (1000,), generator=torch.Generator().manual_seed(0))
    ]
    sampler = LengthBatchSampler(lengths, 16, shuffle=True, seed=3, pool_batches=10)
    batches = sampler.batches()
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    assert spread / len(batches) < 5  # random batches of 16 would spread ~33
    assert sampler.batches() == batches  # the same epoch, the same batches
    sampler.set_epoch(1)
    assert sampler.batches() != batches
    fixed = LengthBatchSampler(lengths, 16, shuffle=False)
    order = [i for b in fixed for i in b]
    assert [lengths[i] for i in order] == sorted(lengths) and len(fixed) == 63


def test_make_text_loader_yields_tokens_mask_labels():
    class Data(torch.utils.data.Dataset):
        def __init__(self):
            self.lengths = [3, 2, 4]

        def __len__(self):
            return 3

        def __getitem__(self, i):
            return torch.arange(2, 2 + self.lengths[i]), i % 2

    tokens, mask, labels = next(iter(make_text_loader(Data(), 3, shuffle=False)))
    assert tokens.shape == (3, 4) and mask.sum(1).tolist() == [2.0, 3.0, 4.0]
    assert labels.tolist() == [1, 0, 0]
    with pytest.raises(TypeError, match="lengths"):
        make_text_loader(torch.utils.data.TensorDataset(torch.zeros(2)), 2, shuffle=False)
