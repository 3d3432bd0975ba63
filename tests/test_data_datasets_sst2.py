"""The ``sst2`` dataset: both TSV layouts, the shipped files' counts, bad files named."""

import pytest
import torch

from spikeforge.data import DATASETS, DataFileError, load_dataset
from spikeforge.data.datasets.sst2 import read_tsv, sst2
from spikeforge.data.paths import find_shared_data
from spikeforge.data.text import WordTokenizer


def write(root, train, dev):
    (root / "sst2").mkdir()
    (root / "sst2" / "train.tsv").write_bytes(train.encode())
    (root / "sst2" / "dev.tsv").write_bytes(dev.encode())


def test_reads_both_column_orders_and_crlf(tmp_path):
    write(tmp_path, "label\tsentence\r\n0\tbad film\r\n1\tgood fun film\r\n",
          "text\tlabel\nvery good \t1\nbad \t0\n")  # fmt: skip
    assert "sst2" in DATASETS.names()
    train = load_dataset("sst2", "train", data_dir=str(tmp_path))
    assert train.texts == ["bad film", "good fun film"] and train.labels.tolist() == [0, 1]
    assert train.tokenizer.itos[4] == "film"  # vocabulary from train
    dev = sst2("test", str(tmp_path))
    assert dev.texts == ["very good", "bad"] and dev.labels.tolist() == [1, 0]
    ids, label = dev[0]
    assert label == 1 and ids.dtype == torch.int64
    assert dev.tokenizer.decode(ids) == ["[CLS]", "[UNK]", "good", "[SEP]"]
    assert dev.lengths == [4, 3]
    assert len(sst2("train", str(tmp_path), samples=1)) == 1


def test_bad_files_are_named(tmp_path):
    write(tmp_path, "label\tsentence\n2\tbad\n", "text\tlabel\n")
    with pytest.raises(DataFileError, match=r"train\.tsv.*line 2"):
        sst2("train", str(tmp_path), tokenizer=WordTokenizer([]))
    (tmp_path / "sst2" / "train.tsv").write_text("words\tlabel\n")
    with pytest.raises(DataFileError, match="lacks 'label'"):
        read_tsv(tmp_path / "sst2" / "train.tsv")


@pytest.mark.skipif(
    find_shared_data() is None or not (find_shared_data() / "sst2").is_dir(),
    reason="shared SST-2 files absent",
)
def test_shipped_files_have_the_glue_counts():
    root = find_shared_data() / "sst2"
    texts, labels = read_tsv(root / "train.tsv")
    assert len(texts) == 67349 and sum(labels) == 37569
    texts, labels = read_tsv(root / "dev.tsv")
    assert len(texts) == 872 and sum(labels) == 444
    assert texts[0] == "it 's a charming and often affecting journey ."


def test_a_wordpiece_vocabulary_by_name(tmp_path):
    write(tmp_path, "label\tsentence\n0\tUnaffable!\n", "text\tlabel\nthe cafe\t1\n")
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "!"]))
    train = sst2("train", str(tmp_path), tokenizer=f"wordpiece:{vocab}", max_len=5)
    assert train.tokenizer.decode(train[0][0]) == ["[CLS]", "un", "##aff", "##able", "[SEP]"]
    assert load_dataset("sst2", "test", data_dir=str(tmp_path), tokenizer="word").lengths == [4]
    with pytest.raises(ValueError, match=r"tokenizer must be 'word' or 'wordpiece:<minilm"):
        sst2("train", str(tmp_path), tokenizer="bpe")
    with pytest.raises(ValueError, match="tokenizer must be"):
        sst2("train", str(tmp_path), tokenizer="wordpiece:")
