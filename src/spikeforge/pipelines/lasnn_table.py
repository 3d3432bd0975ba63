"""The LaSNN pipeline's comparison table, its verdicts and its report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analysis.figures_mpl import save_figures
from .table import accuracy_cell, against_spread, fmt, markdown, seed_row, write_outputs

HEADER = ("model", "init", "T", "accuracy", "firing rate", "energy (µJ)", "train s", "seeds")
# the rows LaSNN is judged against (variant -> how the verdict names it)
RIVALS = {
    "scratch": "from scratch",
    # the students are BN-free (the converted intermediate ANN's shape); the same layers
    # with BatchNorm, trained from scratch, is the direct-training baseline papers use
    "scratch_bn": "from scratch with BatchNorm",
    "kd": "response KD",
    "feature_kd": "feature KD",
}
# the BatchNorm students (variants ending in "_bn", not from the converted SNN): their
# LaSNN row is judged against the BatchNorm rivals only
BN_RIVALS = {"scratch_bn": "from scratch with BatchNorm", "kd_bn": "response KD with BatchNorm"}


def _versus(
    best: Mapping[str, Any], rivals: Mapping[str, str], by_variant: Mapping[str, Any]
) -> dict[str, Any]:
    """``beats_*``, ``margin_over_*``, ``spread_*`` and ``beats_*_beyond_spread`` of
    ``best`` against each rival row present (spread: the sum of the two stds; ``None``
    when either row has one seed)."""
    out: dict[str, Any] = {}
    for other in rivals:
        if other in by_variant:
            rival = by_variant[other]
            margin = best["accuracy"] - rival["accuracy"]
            spread = (best["accuracy_std"] or 0.0) + (rival["accuracy_std"] or 0.0)
            judged = best["seeds"] > 1 and rival["seeds"] > 1
            out[f"beats_{other}"] = margin > 0
            out[f"margin_over_{other}"] = margin
            out[f"spread_{other}"] = spread
            out[f"beats_{other}_beyond_spread"] = bool(margin > spread) if judged else None
    return out


def _verdicts(c: Mapping[str, Any], rivals: Mapping[str, str]) -> list[str]:
    """The verdict phrases of :func:`_versus`'s entries."""
    parts = []
    for other, label in rivals.items():
        if f"beats_{other}" in c:
            verdict = "beats" if c[f"beats_{other}"] else "does not beat"
            margin, spread = c[f"margin_over_{other}"], c.get(f"spread_{other}", 0.0)
            note = "one seed: spread not judged"
            if c.get(f"beats_{other}_beyond_spread") is not None:
                note = f"{against_spread(margin, spread)} the seeds' spread {spread:.4f}"
            parts.append(f"{verdict} {label} ({margin:+.4f}; {note})")
    return parts


@dataclass
class LaSNNTable:
    """Teacher, intermediate ANN, converted SNN (small T and the T it needs) and the
    students (mean ± std over seeds), from the stages' results."""

    teacher: Mapping[str, Any]
    intermediate: Mapping[str, Any]
    conversion: Mapping[str, Any]
    students: Mapping[str, Sequence[Mapping[str, Any]]]
    labels: Mapping[str, str]  # variant -> row label, in table order
    # students at more T: T -> variant -> per-seed results (rows "<label> (T=<T>)")
    extra: Mapping[int, Mapping[str, Sequence[Mapping[str, Any]]]] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for label, r in (("teacher ANN", self.teacher), ("intermediate ANN", self.intermediate)):
            rows.append({**seed_row(label, [r]), "init": "-", "T": None, "firing_rate": None})
        conversion = self.conversion
        small_t, match_t = conversion["small_t"], conversion["smallest_t_within_1pct"]
        same = " (already within 1% of the ANN)" if match_t == small_t else ""
        shown = [(f"converted SNN (T={small_t}){same}", small_t)]
        if match_t is None:
            top = max(int(t) for t in conversion["timesteps"])
            shown.append((f"converted SNN (T={top}, never within 1% of the ANN)", top))
        elif match_t != small_t:
            shown.append((f"converted SNN (T={match_t}: within 1% of the ANN)", match_t))
        for label, steps in shown:
            point = {**conversion["timesteps"][str(steps)], "T": steps}
            point["energy_uj"] = conversion["energy"].get(str(steps), {}).get("energy_uj")
            rows.append({**seed_row(label, [point]), "init": "converted"})
        for name, label in self.labels.items():
            results = self.students.get(name, [])
            if results:
                rows.append(seed_row(label, results, variant=name, init=results[0]["init"]))
        for steps, students in sorted(self.extra.items()):
            for name, label in self.labels.items():
                results = students.get(name, [])
                if results:
                    init = results[0]["init"]
                    row = seed_row(f"{label} (T={steps})", results, variant=name, init=init)
                    rows.append({**row, "extra": True})
        return rows

    def claims(self) -> dict[str, Any]:
        """Does the best LaSNN variant beat scratch, response KD and feature KD at equal
        T — on the mean (``beats_*``, ``margin_over_*``) and by more than the seeds'
        spread, the sum of the two standard deviations (``beats_*_beyond_spread``;
        ``None`` when either row has one seed); how many more steps conversion needs for
        its accuracy. The BatchNorm students (``*_bn``) are not candidates: with a
        ``lasnn_bn`` row, ``batch_norm`` holds its verdicts against ``BN_RIVALS``."""
        # the verdicts are at the students' T; rows at extra T only show
        by_variant = {r["variant"]: r for r in self.rows() if "variant" in r and not r.get("extra")}
        lasnn = [
            r
            for name, r in by_variant.items()
            if name.startswith("lasnn") and not name.endswith("_bn")
        ]
        if not lasnn:
            return {}
        best = max(lasnn, key=lambda r: r["accuracy"])
        out: dict[str, Any] = {"lasnn_best": best["variant"], "lasnn_accuracy": best["accuracy"]}
        out.update(_versus(best, RIVALS, by_variant))
        if "lasnn_bn" in by_variant:
            bn = by_variant["lasnn_bn"]
            out["batch_norm"] = {"lasnn_accuracy": bn["accuracy"]}
            out["batch_norm"].update(_versus(bn, BN_RIVALS, by_variant))
        points = self.conversion["timesteps"]
        steps = sorted(int(t) for t in points)
        reach = [t for t in steps if points[str(t)]["accuracy"] >= best["accuracy"]]
        out["conversion_t_for_lasnn_accuracy"] = reach[0] if reach else None
        out["timestep_reduction"] = reach[0] / best["T"] if reach else None
        out["conversion_max_t"] = steps[-1]
        return out

    @staticmethod
    def format(result: Mapping[str, Any]) -> str:
        """The comparison table as Markdown (also readable as plain text)."""
        lines = [
            (
                r["row"],
                r["init"],
                fmt(r["T"]),
                accuracy_cell(r),
                fmt(r["firing_rate"]),
                fmt(r["energy_uj"], 5),
                _seconds(r),
                str(r["seeds"]),
            )
            for r in result["rows"]
        ]
        text = markdown(HEADER, lines)
        c = result.get("claims") or {}
        if c:
            parts = [f"LaSNN ({c['lasnn_best']}) accuracy {c['lasnn_accuracy']:.4f}"]
            parts += _verdicts(c, RIVALS)
            if c.get("timestep_reduction"):
                parts.append(
                    f"conversion needs T={c['conversion_t_for_lasnn_accuracy']} for it "
                    f"({c['timestep_reduction']:g}x more steps)"
                )
            else:
                parts.append(f"conversion does not reach it by T={c['conversion_max_t']}")
            text += "\n\n" + "; ".join(parts)
            bn = c.get("batch_norm")
            if bn:
                phrases = [f"LaSNN with BatchNorm (lasnn_bn) accuracy {bn['lasnn_accuracy']:.4f}"]
                text += "\n\n" + "; ".join(phrases + _verdicts(bn, BN_RIVALS))
        return text

    def write(
        self,
        run_dir: Path,
        result: Mapping[str, Any],
        figures: Sequence[Mapping[str, Any]] = (),
    ) -> list[Path]:
        """``results.json``, ``results.md``, ``report.html`` (with ``figures``, specs of
        :mod:`~spikeforge.analysis.figures`, drawn after the run's settings) and, when
        matplotlib is installed, each figure as ``figures/NAME.png`` and ``.pdf``; returns
        those picture files."""
        conversion = result["conversion"]
        curve = [
            {
                "T": int(t),
                "converted SNN": p["accuracy"],
                "intermediate ANN": conversion["ann_accuracy"],
            }
            for t, p in conversion["timesteps"].items()
        ]
        table = [
            dict(zip(HEADER, line, strict=True))
            for line in (
                (
                    r["row"],
                    r["init"],
                    r["T"] if r["T"] is not None else "-",
                    accuracy_cell(r),
                    fmt(r["firing_rate"]),
                    fmt(r["energy_uj"], 5),
                    _seconds(r),
                    r["seeds"],
                )
                for r in result["rows"]
            )
        ]
        report = {
            "title": f"LaSNN pipeline on {result['dataset']}",
            "meta": {
                "dataset": result["dataset"],
                "T (students)": result["timesteps"],
                "seeds": result["seeds"],
                "run directory": str(run_dir),
            },
            "distillation": table,
            "conversion": curve,
            "figures": list(figures),
        }
        write_outputs(run_dir, result, self.format(result), report)
        return save_figures(figures, run_dir / "figures")


def _seconds(row: Mapping[str, Any]) -> str:
    """A stage's training wall seconds (mean over seeds); ``-`` for conversion rows."""
    seconds = row.get("train_seconds")
    return "-" if seconds is None else f"{seconds:.0f}"
