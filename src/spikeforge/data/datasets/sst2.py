"""``sst2``: GLUE SST-2 sentiment (train 67,349 phrases, dev 872 sentences; 2 classes).

Files: ``sst2/train.tsv`` (header ``label<TAB>sentence``, CRLF line ends) and
``sst2/dev.tsv`` (header ``text<TAB>label``). The columns are found by their header
names, so either order reads. ``split="test"`` is the dev set (GLUE's test labels are
not public). Samples are token ids ``[L]`` (int64) from a word-level tokenizer whose
vocabulary is built from the train split (:class:`~spikeforge.data.text.WordTokenizer`)
unless one is given; batch them with :func:`~spikeforge.data.text.make_text_loader`.
``tokenizer="wordpiece:minilm"`` (or ``"wordpiece:<vocab.txt or model folder>"``) uses a
pretrained model's WordPiece vocabulary instead
(:class:`~spikeforge.data.wordpiece.WordPieceTokenizer`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..errors import DataFileError
from ..paths import locate
from ..registry import DATASETS, check_split
from ..text import Tokenizer, WordTokenizer
from ..wordpiece import WordPieceTokenizer

FILES = {"train": "sst2/train.tsv", "test": "sst2/dev.tsv"}
TEXT_COLUMNS = ("sentence", "text")


def read_tsv(path: Path) -> tuple[list[str], list[int]]:
    """``(sentences, labels)`` of an SST-2 TSV file (columns found by the header)."""
    lines = path.read_text(encoding="utf-8").splitlines()  # splitlines drops CRLF too
    if not lines:
        raise DataFileError("is empty; expected a header and rows", path)
    header = [h.strip() for h in lines[0].split("\t")]
    text_col = next((header.index(c) for c in TEXT_COLUMNS if c in header), None)
    if text_col is None or "label" not in header:
        raise DataFileError(f"header {header} lacks 'label' and 'sentence'/'text'", path)
    label_col = header.index("label")
    texts, labels = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(header) or cells[label_col].strip() not in ("0", "1"):
            raise DataFileError(
                f"line {number}: expected {len(header)} columns and a 0/1 label, got {line[:60]!r}",
                path,
            )
        texts.append(cells[text_col].strip())
        labels.append(int(cells[label_col]))
    return texts, labels


class TextDataset(Dataset):
    """Sentences encoded once by ``tokenizer``: item ``i`` is ``(ids [L_i], label)``.

    Attributes: ``texts``, ``labels`` (int64 ``[N]``), ``lengths`` (``L_i``),
    ``tokenizer``, ``classes``; ``temporal`` is False (no time axis in the data).
    """

    temporal = False

    def __init__(
        self, texts: list[str], labels: list[int], tokenizer: Tokenizer, classes: list[str]
    ) -> None:
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels; expected equal")
        self.texts, self.tokenizer, self.classes = texts, tokenizer, classes
        self.labels = torch.tensor(labels, dtype=torch.int64)
        self.ids = [tokenizer.encode(t) for t in texts]
        self.lengths = [int(i.numel()) for i in self.ids]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.ids[index], int(self.labels[index])


def sst2_tokenizer(
    data_dir: str | None = None,
    min_freq: int = 1,
    max_vocab: int | None = None,
    max_len: int = 64,
    kind: str = "word",
) -> Tokenizer:
    """``kind="word"``: the word-level tokenizer with the vocabulary of the SST-2 train
    split (built once per file, size and options in a process; the file's size and mtime
    are in the key). ``kind="wordpiece:<name>"``: the WordPiece tokenizer of a pretrained
    model's vocabulary (``minilm``, a model folder or a ``vocab.txt``; ``min_freq`` and
    ``max_vocab`` do not apply)."""
    if kind.startswith("wordpiece:") and kind != "wordpiece:":
        return WordPieceTokenizer.from_pretrained(kind.removeprefix("wordpiece:"), max_len)
    if kind != "word":
        raise ValueError(
            f"tokenizer must be 'word' or 'wordpiece:<minilm | vocab.txt | model folder>', "
            f"got {kind!r}"
        )
    train = locate("sst2", list(FILES.values()), data_dir) / FILES["train"]
    stat = train.stat()
    key = (str(train.resolve()), stat.st_size, stat.st_mtime_ns, min_freq, max_vocab, max_len)
    if key not in _TOKENIZERS:
        texts, _ = read_tsv(train)
        _TOKENIZERS[key] = WordTokenizer.build(texts, min_freq, max_vocab, max_len)
    return _TOKENIZERS[key]


_TOKENIZERS: dict[tuple, Tokenizer] = {}  # the tokenizer is read-only once built


@DATASETS.register("sst2")
def sst2(
    split: str = "train",
    data_dir: str | None = None,
    tokenizer: Tokenizer | str | None = None,
    min_freq: int = 1,
    max_vocab: int | None = None,
    max_len: int = 64,
    samples: int | None = None,
    seed: int = 0,
) -> TextDataset:
    """SST-2 ``split`` (``"test"`` = dev) as token ids.

    Args:
        tokenizer: use this one; a str names one (``"word"``: built from train with
            ``min_freq``, ``max_vocab``, ``max_len``; ``"wordpiece:minilm"``: a pretrained
            vocabulary, see :func:`sst2_tokenizer`); None: ``"word"``.
        samples: keep a seeded random subset of this many rows (quick runs).
    """
    check_split(split)
    root = locate("sst2", list(FILES.values()), data_dir)
    texts, labels = read_tsv(root / FILES[split])
    if tokenizer is None or isinstance(tokenizer, str):
        tokenizer = sst2_tokenizer(data_dir, min_freq, max_vocab, max_len, tokenizer or "word")
    if samples is not None and samples < len(texts):
        keep = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed))[:samples]
        keep = sorted(keep.tolist())
        texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    return TextDataset(texts, labels, tokenizer, ["negative", "positive"])
