r"""BERT's WordPiece tokenizer (uncased), for a pretrained teacher's vocabulary.

Two passes, as BERT's own tokenizer:

1. **basic** (:func:`basic_tokenize`): drop NUL, U+FFFD and control characters
   (Unicode category ``C*``, except tab/newline/CR, which are whitespace); every
   whitespace character (including category ``Zs``) becomes a space; CJK ideographs are
   set apart by spaces (each is a token); NFC-normalise; split on whitespace; lower-case; strip
   accents (NFD, then drop combining marks, category ``Mn``); split every punctuation
   character (ASCII ``!``–``/``, ``:``–``@``, ``[``–`````, ``{``–``~`` and Unicode ``P*``)
   off as its own token.
2. **WordPiece** (:meth:`WordPieceTokenizer.wordpiece`): each word is cut greedily into
   the longest vocabulary entry from its start, then the longest ``##``-prefixed entry
   from where that ended, and so on; a word with a part that matches nothing, or longer
   than 100 characters, becomes one ``[UNK]``.

An encoded sentence is ``[CLS] pieces… [SEP]`` as int64 ids ``[L]``, truncated to
``max_len`` by dropping pieces (``[SEP]`` is always kept); the padding id is the
vocabulary's ``[PAD]`` (0 in BERT's). The batching interface is the word tokenizer's
(:mod:`spikeforge.data.text`): ``encode``, ``decode``, ``len``, ``pad_id``, ``max_len``.
Special-token strings inside the text (``"[SEP]"``) are read as plain text, not as
specials.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from .pretrained import PACKAGED, pretrained_dir
from .text import CLS, PAD, SEP, SPECIALS, UNK

MAX_WORD_CHARS = 100  # BERT's max_input_chars_per_word
CONTINUATION = "##"

# CJK Unified Ideographs and their extensions / compatibility blocks, as BERT's tokenizer
# (Hangul, kana and other scripts are not in these and are split on whitespace as usual)
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def is_whitespace(char: str) -> bool:
    """Space, tab, newline, CR, or a Unicode space separator (``Zs``)."""
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def is_control(char: str) -> bool:
    """A Unicode ``C*`` character other than tab, newline and CR (those are whitespace)."""
    return char not in "\t\n\r" and unicodedata.category(char).startswith("C")


def is_punctuation(char: str) -> bool:
    """Every non-alphanumeric printable ASCII character (BERT splits ``$``, ``^``, ```` ` ````
    too, which Unicode files as symbols), or any Unicode ``P*`` character."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def is_cjk(char: str) -> bool:
    """A CJK ideograph (one of :data:`CJK_RANGES`)."""
    cp = ord(char)
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def strip_accents(text: str) -> str:
    """``text`` in NFD without its combining marks (``"café"`` -> ``"cafe"``)."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def split_punctuation(word: str) -> list[str]:
    """``word`` cut before and after every punctuation character (``"don't"`` ->
    ``["don", "'", "t"]``)."""
    out: list[list[str]] = []
    new_word = True
    for char in word:
        if is_punctuation(char):
            out.append([char])
            new_word = True
        else:
            if new_word:
                out.append([])
                new_word = False
            out[-1].append(char)
    return ["".join(chars) for chars in out]


def clean_text(text: str) -> str:
    """Drop NUL, U+FFFD and control characters; every whitespace becomes a space; CJK
    ideographs get a space on each side."""
    out = []
    for char in text:
        if char in ("\x00", "\ufffd") or is_control(char):
            continue
        if is_whitespace(char):
            out.append(" ")
        elif is_cjk(char):
            out.append(f" {char} ")
        else:
            out.append(char)
    return "".join(out)


def basic_tokenize(text: str, lower: bool = True) -> list[str]:
    """BERT's basic tokenizer: the words and punctuation of ``text`` (module docstring,
    pass 1). ``lower=False`` keeps case and accents (a cased vocabulary)."""
    if not isinstance(text, str):
        raise TypeError(f"basic_tokenize expects a str, got {type(text).__name__}")
    # then NFC: a composed and a decomposed character are the same character
    words = unicodedata.normalize("NFC", clean_text(text)).split()
    out: list[str] = []
    for word in words:
        if lower:
            word = strip_accents(word.lower())
        out += split_punctuation(word)
    return [w for w in out if w]


def read_vocab(path: str | Path) -> list[str]:
    """The tokens of a ``vocab.txt`` (one per line; the line number is the id)."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file's final newline ends the last line, it is not a token
    return [line.rstrip("\r") for line in lines]


class WordPieceTokenizer:
    """WordPiece over a fixed vocabulary (module docstring).

    Args:
        vocab: the tokens in id order; must hold ``[PAD]``, ``[UNK]``, ``[CLS]``, ``[SEP]``.
        max_len: longest encoded sequence, ``[CLS]`` and ``[SEP]`` included (≥ 3).
        lower: lower-case and strip accents (an uncased vocabulary, as MiniLM's).
    """

    def __init__(self, vocab: Sequence[str], max_len: int = 64, lower: bool = True) -> None:
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 3:
            raise ValueError(
                f"max_len must be an int >= 3 ([CLS], a piece, [SEP]), got {max_len!r}"
            )
        self.itos = list(vocab)
        self.stoi = {token: i for i, token in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            twice = sorted({t for t in self.itos if self.itos.count(t) > 1})[:5]
            raise ValueError(f"vocab holds tokens twice ({twice}); expected distinct tokens")
        missing = [s for s in SPECIALS if s not in self.stoi]
        if missing:
            raise ValueError(
                f"vocab lacks the special tokens {missing}; expected all of {SPECIALS}"
            )
        self.max_len, self.lower = max_len, lower

    @classmethod
    def from_file(
        cls, path: str | Path, max_len: int = 64, lower: bool = True
    ) -> WordPieceTokenizer:
        """The tokenizer of a ``vocab.txt``."""
        return cls(read_vocab(path), max_len=max_len, lower=lower)

    @classmethod
    def from_pretrained(cls, name: str, max_len: int = 64) -> WordPieceTokenizer:
        """The tokenizer of a pretrained model: a packaged model's name (``"minilm"``), a
        model folder holding ``vocab.txt``, or a ``vocab.txt`` path. Uncased: the packaged
        models are uncased; a folder's ``tokenizer_config.json`` is not read."""
        path = Path(name).expanduser()
        if name not in PACKAGED and path.is_file():
            return cls.from_file(path, max_len)
        if name not in PACKAGED and (path / "vocab.txt").is_file():  # a tokenizer folder
            return cls.from_file(path / "vocab.txt", max_len)
        return cls.from_file(pretrained_dir(name) / "vocab.txt", max_len)

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def pad_id(self) -> int:
        return self.stoi[PAD]

    def wordpiece(self, word: str) -> list[str]:
        """``word`` as greedy longest-match-first pieces (``[UNK]`` if it cannot be cut)."""
        if len(word) > MAX_WORD_CHARS:
            return [UNK]
        pieces: list[str] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else CONTINUATION + word[start:end]
                if piece in self.stoi:
                    break
                end -= 1
            if end == start:  # no entry matches from here: the whole word is unknown
                return [UNK]
            pieces.append(piece)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """``text`` as WordPiece tokens (no ``[CLS]``/``[SEP]``, no truncation)."""
        return [p for word in basic_tokenize(text, self.lower) for p in self.wordpiece(word)]

    def encode(self, text: str) -> torch.Tensor:
        """``text`` -> int64 ids ``[L]``: ``[CLS]``, its pieces, ``[SEP]``; pieces past
        ``max_len - 2`` are dropped."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        pieces = self.tokenize(text)[: self.max_len - 2]
        ids = [self.stoi[CLS], *(self.stoi[p] for p in pieces), self.stoi[SEP]]
        return torch.tensor(ids, dtype=torch.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Token strings of ``ids`` (padding left out)."""
        return [self.itos[int(i)] for i in ids if int(i) != self.pad_id]
