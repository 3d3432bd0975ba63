"""Per-step cost of ``spikeforge run spikingbert`` and the stage times it implies.

For the pipeline's shapes (``--teacher minilm``: the pretrained MiniLM teacher of
``configs/spikingbert_sst2_minilm.yaml``, on its WordPiece vocabulary; ``--teacher small``:
the default config's small teacher on the word vocabulary; the student of both configs:
hidden 128, 2 layers, 4 heads, intermediate 256, ``T_conv`` 16, mean head) it times, on
``--threads`` threads, one optimiser step (forward, backward, AdamW) of every kind of
stage — the teacher's training (fine-tuning, for a pretrained one), the student without a
teacher, internal-layer KD and prediction-layer KD (both with the teacher's forward) —
twice over:

- at the full batch shape ``[batch_size, max_len]`` (every position a real token; the
  worst case), median of ``--repeats``;
- on ``--batches`` real SST-2 train batches, batched by length as in training (the mean).

Wall and CPU seconds are both recorded (on a loaded machine wall time also counts the
waits for a core). The estimate: steps per epoch (67,349 train phrases / batch size) ×
the mean real-batch step × each stage's epochs (``--epochs``: teacher, scratch,
internal_kd, prediction_kd, prediction_only; the configs' 1/3/3/3/3 for ``minilm``),
student stages once per seed; evaluation passes are not counted. The machine and its
load average before and after are in the output.

Usage::

    spikeforge bench spikingbert_steps                       # prints the table
    spikeforge bench spikingbert_steps --out benchmarks/results
    spikeforge bench spikingbert_steps --teacher small --quick   # smoke test
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch

from ..data.datasets.sst2 import sst2, sst2_tokenizer
from ..data.text import make_text_loader
from ..methods.distill.spikingbert import SpikingBertDistiller
from ..models.bert_teacher import BertTeacher
from ..models.pretrained_bert import pretrained_teacher
from ..models.spiking_bert import SpikingBert
from .results import command, write_results

NAME = "spikingbert_steps"
TRAIN_PHRASES = 67349  # SST-2's train split
STAGES = ("teacher", "scratch", "internal_kd", "prediction_kd", "prediction_only")
# step kind -> (distillation stage, trained model, the pipeline stage whose epochs it costs)
KINDS = {
    "teacher training": ("supervised", "teacher", "teacher"),
    "student, no teacher": ("supervised", "student", "scratch"),
    "internal-layer KD": ("internal", "student", "internal_kd"),
    "prediction-layer KD": ("prediction", "student", "prediction_kd"),
}
# the configs' shapes (configs/spikingbert_sst2*.yaml)
STUDENT = {
    "hidden": 128,
    "layers": 2,
    "heads": 4,
    "intermediate": 256,
    "t_conv": 16,
    "pool": "mean",
}
SMALL_TEACHER = {"hidden": 128, "layers": 6, "heads": 4, "intermediate": 256}
QUICK = {
    "student": {**STUDENT, "hidden": 16, "intermediate": 16, "t_conv": 4},
    "small_teacher": {"hidden": 16, "layers": 2, "heads": 4, "intermediate": 16},
    "batch_size": 4,
    "max_len": 16,
    "batches": 2,
    "repeats": 1,
}


def time_steps(distiller: SpikingBertDistiller, batches: list[tuple]) -> list[tuple[float, float]]:
    """``(wall, cpu)`` seconds of one AdamW step on each batch ``(tokens, mask, labels)``."""
    params = [p for p in distiller.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    out = []
    for tokens, mask, labels in batches:
        wall, cpu = time.perf_counter(), time.process_time()
        loss, _ = distiller.loss(tokens, mask, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        out.append((time.perf_counter() - wall, time.process_time() - cpu))
    return out


def full_batches(vocab: int, batch: int, length: int, count: int) -> list[tuple]:
    """``count`` batches ``[batch, length]`` of random non-special ids, no padding."""
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(min(1000, vocab - 1), vocab, (batch, length), generator=generator)
    return [(tokens, torch.ones(batch, length), torch.zeros(batch, dtype=torch.int64))] * count


def measure(
    teacher_name: str,
    batch_size: int,
    max_len: int,
    batches: int,
    repeats: int,
    student: dict[str, Any],
    small_teacher: dict[str, Any],
) -> dict[str, Any]:
    """Every step kind's timings: ``batches`` real train batches (a seeded subset of
    ``4 × batches × batch_size`` phrases, batched by length) and ``repeats`` full ones."""
    kind = "word" if teacher_name == "small" else f"wordpiece:{teacher_name}"
    tokenizer = sst2_tokenizer(max_len=max_len, kind=kind)
    train_set = sst2("train", tokenizer=tokenizer, samples=4 * batches * batch_size)
    real = list(itertools.islice(make_text_loader(train_set, batch_size, True), batches))
    full = full_batches(len(tokenizer), batch_size, max_len, repeats)
    torch.manual_seed(0)
    if teacher_name == "small":
        teacher = BertTeacher(len(tokenizer), 2, max_len=max_len, **small_teacher)
    else:
        teacher = pretrained_teacher(teacher_name, 2)
    rows = []
    for label, (stage, trained, section) in KINDS.items():
        torch.manual_seed(0)
        model = (
            teacher
            if trained == "teacher"
            else SpikingBert(len(tokenizer), 2, max_len=max_len, **student)
        )
        teacher.train(trained == "teacher")
        distiller = SpikingBertDistiller(model, None if stage == "supervised" else teacher, stage)
        at_full, at_real = time_steps(distiller, full), time_steps(distiller, real)
        rows.append(
            {
                "step": label,
                "stage": section,
                "full_wall_s": statistics.median(w for w, _ in at_full),
                "full_cpu_s": statistics.median(c for _, c in at_full),
                "real_wall_s": statistics.mean(w for w, _ in at_real),
                "real_cpu_s": statistics.mean(c for _, c in at_real),
            }
        )
    return {"rows": rows, "real_batch_lengths": [int(m.shape[1]) for _, m, _ in real]}


def estimate(
    rows: list[dict[str, Any]],
    epochs: dict[str, int],
    batch_size: int,
    seeds: int,
    train_phrases: int = TRAIN_PHRASES,
) -> dict[str, Any]:
    """Stage minutes from the mean real-batch step: steps per epoch × step × epochs (per
    seed: scratch, the prediction-KD-only student, internal KD, prediction KD after it)."""
    steps = math.ceil(train_phrases / batch_size)
    per_epoch = {}  # pipeline stage -> minutes per epoch
    for row in rows:
        per_epoch[row["stage"]] = steps * row["real_wall_s"] / 60
        row["epochs"] = epochs[row["stage"]]
        row["stage_min"] = per_epoch[row["stage"]] * row["epochs"]
    per_seed = (
        per_epoch["scratch"] * epochs["scratch"]
        + per_epoch["prediction_kd"] * epochs["prediction_only"]
        + per_epoch["internal_kd"] * epochs["internal_kd"]
        + per_epoch["prediction_kd"] * epochs["prediction_kd"]
    )
    teacher = per_epoch["teacher"] * epochs["teacher"]
    return {
        "train_phrases": train_phrases,
        "steps_per_epoch": steps,
        "teacher_min": teacher,
        "students_per_seed_min": per_seed,
        "total_min": teacher + seeds * per_seed,
    }


def markdown(result: dict[str, Any]) -> str:
    """The report: command, machine and load, one line per step kind, the estimate."""
    m, e = result["meta"], result["estimate"]
    lines = [
        f"# SpikingBERT step cost (teacher: {m['teacher']})",
        "",
        f"`{m['command']}` — {m['date']}, {m['platform']}, {m['cpu_count']} cores, torch "
        f"{m['torch']}, {m['threads']} thread(s); load average {m['load_start']} -> "
        f"{m['load_end']}",
        "",
        f"batch {m['batch_size']}, max_len {m['max_len']}; real batches' lengths "
        f"{result['real_batch_lengths']}",
        "",
        "| step | [B, max_len] wall s | cpu s | real batches wall s | cpu s | epochs | stage min |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['step']} | {r['full_wall_s']:.3f} | {r['full_cpu_s']:.3f} | "
            f"{r['real_wall_s']:.3f} | {r['real_cpu_s']:.3f} | {r['epochs']} | "
            f"{r['stage_min']:.1f} |"
        )
    lines += [
        "",
        f"Estimate ({e['train_phrases']} train phrases, {e['steps_per_epoch']} steps per "
        f"epoch, evaluation not counted): teacher {e['teacher_min']:.1f} min, students "
        f"{e['students_per_seed_min']:.1f} min per seed, {e['total_min']:.1f} min in all "
        f"for {m['seeds']} seed(s).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``spikeforge bench spikingbert_steps [--teacher T] [--quick] [--threads K] [--out DIR]``."""
    parser = argparse.ArgumentParser(
        prog=f"spikeforge bench {NAME}", description=(__doc__ or NAME).splitlines()[0]
    )
    parser.add_argument("--teacher", default="minilm", help="minilm (default) or small")
    parser.add_argument("--quick", action="store_true", help="tiny shapes, 2 batches (smoke)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--batch-size", type=int, default=32, help="as data.batch_size")
    parser.add_argument("--max-len", type=int, default=64, help="as data.max_len")
    parser.add_argument("--batches", type=int, default=20, help="real train batches to time")
    parser.add_argument("--repeats", type=int, default=3, help="full-shape steps to time")
    parser.add_argument(
        "--epochs",
        type=int,
        nargs=5,
        default=[1, 3, 3, 3, 3],
        metavar="N",
        help=f"epochs of {', '.join(STAGES)}",
    )
    parser.add_argument("--seeds", type=int, default=3, help="student seeds of the estimate")
    parser.add_argument("--out", metavar="DIR", help=f"write {NAME}.json/.md here")
    args = parser.parse_args(argv)
    numbers = (args.threads, args.batch_size, args.max_len, args.batches, args.repeats, args.seeds)
    if min(numbers) < 1 or min(args.epochs) < 1:
        parser.error(
            "--threads, --batch-size, --max-len, --batches, --repeats, --seeds and "
            "--epochs must be >= 1"
        )
    settings = {
        "batch_size": args.batch_size,
        "max_len": args.max_len,
        "batches": args.batches,
        "repeats": args.repeats,
        "student": STUDENT,
        "small_teacher": SMALL_TEACHER,
    }
    if args.quick:
        settings = QUICK
    torch.set_num_threads(args.threads)
    given = list(argv) if argv is not None else []
    load_start = os.getloadavg()
    measured = measure(args.teacher, **settings)
    epochs = dict(zip(STAGES, args.epochs, strict=True))
    result = {
        "meta": {
            "command": command(NAME, given),
            "teacher": args.teacher,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "threads": args.threads,
            "batch_size": settings["batch_size"],
            "max_len": settings["max_len"],
            "student": settings["student"],
            "seeds": args.seeds,
            "load_start": [round(x, 2) for x in load_start],
            "load_end": [round(x, 2) for x in os.getloadavg()],
        },
        **measured,
        "estimate": estimate(measured["rows"], epochs, settings["batch_size"], args.seeds),
    }
    text = markdown(result)
    print(text, end="")
    if args.out:
        write_results(args.out, NAME, result, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
