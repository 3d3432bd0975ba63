"""Text data: a word-level tokenizer, padding with attention masks, batching by length.

A text sample is a 1-D int64 tensor of token ids ``[L]`` (``[CLS] w_1 … w_n [SEP]``,
truncated to ``max_len``); a batch is ``tokens [B, L]`` (padded with ``[PAD]`` = 0 to
the longest sample of the batch) and ``mask [B, L]`` (1 for real tokens, 0 for padding),
with labels ``[B]``. There is no time axis in the data: a spiking language model adds
its own (its ``T_conv`` simulation steps over a constant input current, see
:mod:`spikeforge.models.spiking_bert`).

Batching by length (:class:`LengthBatchSampler`) sorts samples by length inside
shuffled pools, so a batch holds sentences of similar length and carries little padding.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from typing import Protocol

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

PAD, UNK, CLS, SEP = "[PAD]", "[UNK]", "[CLS]", "[SEP]"
SPECIALS = (PAD, UNK, CLS, SEP)


class Tokenizer(Protocol):
    """What a text dataset needs of a tokenizer (:class:`WordTokenizer`, or
    :class:`~spikeforge.data.wordpiece.WordPieceTokenizer` for a pretrained vocabulary)."""

    max_len: int

    def encode(self, text: str) -> torch.Tensor: ...  # int64 ids [L], [CLS] … [SEP]

    def __len__(self) -> int: ...

    @property
    def pad_id(self) -> int: ...


class WordTokenizer:
    """Whitespace word tokenizer over a fixed vocabulary (ids 0–3: PAD, UNK, CLS, SEP).

    Args:
        vocab: the words after the four special tokens, in id order.
        max_len: longest encoded sequence, ``[CLS]`` and ``[SEP]`` included (≥ 3).
        lower: lower-case before lookup.
    """

    def __init__(self, vocab: Sequence[str], max_len: int = 64, lower: bool = True) -> None:
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 3:
            raise ValueError(f"max_len must be an int >= 3 ([CLS], a word, [SEP]), got {max_len!r}")
        words = [w for w in vocab if w not in SPECIALS]
        if len(set(words)) != len(words):
            raise ValueError("vocab holds a word twice; expected distinct words")
        self.itos = [*SPECIALS, *words]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.max_len = max_len
        self.lower = lower

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        min_freq: int = 1,
        max_size: int | None = None,
        max_len: int = 64,
        lower: bool = True,
    ) -> WordTokenizer:
        """A vocabulary of the words in ``texts`` seen ≥ ``min_freq`` times, most frequent
        first (ties alphabetical: the same texts give the same ids), at most ``max_size``."""
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq!r}")
        counts = Counter(w for t in texts for w in (t.lower() if lower else t).split())
        ranked = sorted(
            (w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w)
        )
        if max_size is not None:
            ranked = ranked[:max_size]
        return cls(ranked, max_len=max_len, lower=lower)

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def pad_id(self) -> int:
        return 0

    def encode(self, text: str) -> torch.Tensor:
        """``text`` -> int64 ids ``[L]``: ``[CLS]``, the words (unknown -> ``[UNK]``),
        ``[SEP]``; words past ``max_len - 2`` are dropped."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        words = (text.lower() if self.lower else text).split()[: self.max_len - 2]
        unk = self.stoi[UNK]
        ids = [self.stoi[CLS], *(self.stoi.get(w, unk) for w in words), self.stoi[SEP]]
        return torch.tensor(ids, dtype=torch.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Token strings of ``ids`` (padding left out)."""
        return [self.itos[int(i)] for i in ids if int(i) != self.pad_id]


def pad_batch(
    sequences: Sequence[torch.Tensor], pad_id: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id sequences ``[L_i]`` -> ``(tokens [B, L], mask [B, L])`` with ``L = max L_i``;
    ``mask`` is 1.0 on real tokens and 0.0 on padding (float, as models add it to scores)."""
    if not sequences:
        raise ValueError("pad_batch needs at least one sequence, got none")
    for s in sequences:
        if s.dim() != 1 or s.numel() == 0:
            raise ValueError(
                f"pad_batch expects non-empty 1-D id tensors, got shape {tuple(s.shape)}"
            )
    length = max(s.numel() for s in sequences)
    tokens = torch.full((len(sequences), length), pad_id, dtype=torch.int64)
    mask = torch.zeros(len(sequences), length)
    for i, s in enumerate(sequences):
        tokens[i, : s.numel()] = s
        mask[i, : s.numel()] = 1.0
    return tokens, mask


def collate_text(
    batch: Sequence[tuple[torch.Tensor, int]], pad_id: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``[(ids [L_i], label), ...]`` -> ``(tokens [B, L], mask [B, L], labels [B])``,
    padded with ``pad_id``."""
    tokens, mask = pad_batch([ids for ids, _ in batch], pad_id)
    return tokens, mask, torch.tensor([int(y) for _, y in batch], dtype=torch.int64)


class LengthBatchSampler(Sampler[list[int]]):
    """Batches of indices with similar lengths.

    Each epoch (``shuffle=True``) the indices are shuffled, cut into pools of
    ``pool_batches × batch_size``, each pool sorted by length and cut into batches, and
    the batches shuffled; without ``shuffle`` the whole set is sorted by length (a fixed
    order for evaluation). Every index appears exactly once per epoch.

    Args:
        lengths: the length of each sample.
        batch_size: samples per batch (the last batch of a pool may be smaller).
        shuffle: as above.
        seed: base seed; epoch ``e`` uses ``seed + e`` (set by :meth:`set_epoch`).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        pool_batches: int = 50,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.int64)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.pool = max(1, pool_batches) * batch_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the shuffle of epoch ``epoch`` (resuming reproduces the same batches)."""
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        """This epoch's batches."""
        n = len(self.lengths)
        if not self.shuffle:
            order = torch.sort(self.lengths, stable=True).indices
            return [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(n, generator=generator)
        out: list[list[int]] = []
        for start in range(0, n, self.pool):
            pool = order[start : start + self.pool]
            pool = pool[torch.sort(self.lengths[pool], stable=True).indices]
            out += [
                pool[i : i + self.batch_size].tolist() for i in range(0, len(pool), self.batch_size)
            ]
        perm = torch.randperm(len(out), generator=generator).tolist()
        return [out[i] for i in perm]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        if not self.shuffle:
            return -(-len(self.lengths) // self.batch_size)
        return len(self.batches())


def make_text_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    """A loader of ``(tokens [B, L], mask [B, L], labels [B])`` batched by length;
    ``dataset`` must have ``lengths`` (a list of sample lengths); padding is its
    tokenizer's ``pad_id`` (0 without a tokenizer)."""
    lengths = getattr(dataset, "lengths", None)
    if lengths is None:
        raise TypeError(
            f"make_text_loader needs a text dataset with .lengths, got {type(dataset).__name__}"
        )
    sampler = LengthBatchSampler(lengths, batch_size, shuffle=shuffle, seed=seed)
    pad_id = getattr(getattr(dataset, "tokenizer", None), "pad_id", 0)
    return DataLoader(
        dataset, batch_sampler=sampler, collate_fn=partial(collate_text, pad_id=pad_id)
    )
