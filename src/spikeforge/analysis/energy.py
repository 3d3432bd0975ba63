r"""Energy per inference from :class:`~spikeforge.analysis.ops.OpCounts`.

Model (Horowitz, ISSCC 2014, 45 nm CMOS; as in Spikformer and its successors):

- SNN: ``E_SNN = E_MAC · Σ_{analog-input ops} MACs + E_AC · Σ_{spike-input ops} SOPs``,
  with ``SOPs = rate · T · FLOPs`` as counted (the analog first layer runs every step,
  so its MACs include the factor ``T``).
- ANN twin: ``E_ANN = E_MAC · Σ FLOPs`` — the same network at ``T = 1`` with every op a
  MAC (dense per-step counts, ``MACs / T``), or the counts of a separate ANN model.
- SpikingBERT's normalised operation count (§9 of METHODS) with
  ``IFR`` = spikes per neuron per inference (``rate · T``) and ``OPS`` = dense per-step
  ops:  ``Norm#OPS = Σ_i IFR_i · OPS_{i+1} / Σ OPS``; the analog first layer has no
  spiking input and contributes to the denominator only. Its ANN/SNN energy ratio is
  ``e = (Norm#OPS / 5.1)⁻¹`` (5.1 ≈ 4.6 / 0.9 = E_MAC / E_AC).

A network with no spike-driven (AC) operation — an ANN, e.g. ``spikeforge energy`` on a
``train.method=ann`` checkpoint — is its own ANN twin: ``E_SNN`` is then simply its
(all-MAC) energy, ANN/SNN is 1 at ``T = 1``, and Norm#OPS = 0 makes SpikingBERT's ratio
undefined, so :attr:`EnergyReport.spikingbert_ratio` is ``None`` (``null`` in JSON) and
the table says what applies instead of printing ``inf``. The same holds for an SNN
whose spikes never reach a synaptic op (no spike-driven work to compare).

Layer names are the qualified module names of :mod:`~spikeforge.analysis.ops`: a row's
``layer`` is the module running the op, its ``inputs`` the spiking layers (named as in
the firing rates) whose spikes it accumulates.

All energies are per sample, in picojoules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .ops import AC, OpCounts

SPIKINGBERT_MAC_AC_RATIO = 5.1


@dataclass(frozen=True)
class EnergyPreset:
    """Energy per operation in picojoules."""

    name: str
    e_mac: float
    e_ac: float

    def __post_init__(self) -> None:
        for key in ("e_mac", "e_ac"):
            value = getattr(self, key)
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key} must be a non-negative number (pJ), got {value!r}")


# Horowitz 2014 (45 nm): fp32 mult 3.7 + add 0.9; int32 mult 3.1 + add 0.1;
# int8 mult 0.2 + add 0.03 pJ. A MAC is one multiply and one add; an AC one add.
ENERGY_PRESETS: dict[str, EnergyPreset] = {
    "45nm": EnergyPreset("45nm", e_mac=4.6, e_ac=0.9),
    "45nm_fp32": EnergyPreset("45nm_fp32", e_mac=4.6, e_ac=0.9),
    "45nm_int32": EnergyPreset("45nm_int32", e_mac=3.2, e_ac=0.1),
    "45nm_int8": EnergyPreset("45nm_int8", e_mac=0.23, e_ac=0.03),
}

PresetLike = str | EnergyPreset | Mapping[str, float]


def get_preset(preset: PresetLike) -> EnergyPreset:
    """A preset name, an :class:`EnergyPreset`, or ``{"e_mac": pJ, "e_ac": pJ}``."""
    if isinstance(preset, EnergyPreset):
        return preset
    if isinstance(preset, str):
        if preset not in ENERGY_PRESETS:
            raise ValueError(
                f"unknown energy preset {preset!r}; expected one of {sorted(ENERGY_PRESETS)}"
            )
        return ENERGY_PRESETS[preset]
    if isinstance(preset, Mapping):
        if set(preset) - {"e_mac", "e_ac", "name"} or not {"e_mac", "e_ac"} <= set(preset):
            raise ValueError(
                f"custom preset needs keys 'e_mac' and 'e_ac' (pJ), got {sorted(preset)}"
            )
        return EnergyPreset(
            str(preset.get("name", "custom")), float(preset["e_mac"]), float(preset["e_ac"])
        )
    raise TypeError(f"preset must be a name, EnergyPreset or mapping, got {type(preset).__name__}")


@dataclass(frozen=True)
class LayerEnergy:
    """One op site: per-sample counts and energies (pJ); ``ann_pj`` is None without a twin."""

    layer: str
    index: int
    op: str
    kind: str
    inputs: tuple[str, ...]
    rate: float
    macs: float
    sops: float
    snn_pj: float
    ann_pj: float | None


@dataclass(frozen=True)
class EnergyReport:
    """Per-layer and total energy per inference of one sample (pJ)."""

    preset: EnergyPreset
    steps: int
    layers: tuple[LayerEnergy, ...]
    snn_pj: float
    ann_pj: float
    norm_ops: float

    @property
    def ratio(self) -> float:
        """ANN / SNN energy (> 1: the SNN is cheaper; 1 for an ANN at ``T = 1``)."""
        return self.ann_pj / self.snn_pj if self.snn_pj else float("inf")

    @property
    def spiking(self) -> bool:
        """Whether any op is spike-driven (AC); False for an ANN."""
        return any(layer.kind == AC for layer in self.layers)

    @property
    def spikingbert_ratio(self) -> float | None:
        """``(Norm#OPS / 5.1)⁻¹``: SpikingBERT's ANN/SNN energy estimate; ``None`` when
        Norm#OPS = 0 (an ANN, or no spike reached a synaptic op): undefined, not ∞."""
        return SPIKINGBERT_MAC_AC_RATIO / self.norm_ops if self.norm_ops else None

    def summary(self) -> str:
        """The line under :meth:`table`: preset, T, ratios — or why they do not apply."""
        head = (
            f"preset {self.preset.name} (E_MAC {self.preset.e_mac} pJ, E_AC {self.preset.e_ac}"
            f" pJ), T={self.steps}; "
        )
        if not self.spiking:
            return head + (
                f"no spike-driven (AC) operation: an ANN, every op a MAC, so E_SNN is its "
                f"energy and it is its own ANN twin (ANN/SNN = {self.ratio:.2f}x); "
                f"Norm#OPS and (Norm#OPS/5.1)^-1 do not apply"
            )
        spikingbert = self.spikingbert_ratio
        tail = (
            f"(Norm#OPS/5.1)^-1 = {spikingbert:.2f}x"
            if spikingbert is not None
            else "no spike reached a synaptic op, so (Norm#OPS/5.1)^-1 does not apply"
        )
        return head + f"ANN/SNN = {self.ratio:.2f}x; Norm#OPS = {self.norm_ops:.3f} -> {tail}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (used by the HTML report)."""
        return {
            "preset": {
                "name": self.preset.name,
                "e_mac_pj": self.preset.e_mac,
                "e_ac_pj": self.preset.e_ac,
            },
            "steps": self.steps,
            "layers": [vars(layer).copy() for layer in self.layers],
            "snn_pj": self.snn_pj,
            "ann_pj": self.ann_pj,
            "ratio": self.ratio,
            "spiking": self.spiking,
            "norm_ops": self.norm_ops,
            "spikingbert_ratio": self.spikingbert_ratio,
        }

    def table(self) -> str:
        """Plain-text per-layer table with totals, for printing."""
        head = ("layer", "op", "kind", "inputs", "rate", "MACs", "SOPs", "E_SNN", "E_ANN")
        ops_per_layer = Counter(r.layer for r in self.layers)
        rows = [
            (
                r.layer or "<model>",
                f"{r.op}#{r.index}" if ops_per_layer[r.layer] > 1 else r.op,
                r.kind,
                ", ".join(r.inputs) or "-",
                f"{r.rate:.3f}",
                f"{r.macs:,.0f}",
                f"{r.sops:,.0f}",
                format_energy(r.snn_pj),
                "-" if r.ann_pj is None else format_energy(r.ann_pj),
            )
            for r in self.layers
        ]
        rows.append(("total", *[""] * 6, format_energy(self.snn_pj), format_energy(self.ann_pj)))
        widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
        lines = [
            "  ".join(
                c.ljust(w) if i < 4 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in [head, *rows]
        ]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(-1, "-" * len(lines[0]))
        lines.append(self.summary())
        return "\n".join(lines)


def format_energy(pj: float) -> str:
    """``1234.0`` -> ``"1.23 nJ"``: picojoules in the largest unit that keeps >= 1."""
    for scale, unit in ((1e9, "mJ"), (1e6, "uJ"), (1e3, "nJ")):
        if abs(pj) >= scale:
            return f"{pj / scale:.3g} {unit}"
    return f"{pj:.3g} pJ"


def estimate_energy(
    counts: OpCounts, preset: PresetLike = "45nm", ann_counts: OpCounts | None = None
) -> EnergyReport:
    """Energy per sample of the counted SNN and of its ANN twin.

    Args:
        counts: :func:`~spikeforge.analysis.ops.count_operations` of the SNN.
        preset: a name in :data:`ENERGY_PRESETS`, an :class:`EnergyPreset`, or
            ``{"e_mac": pJ, "e_ac": pJ}``.
        ann_counts: counts of a separate ANN (every op a MAC, all its steps). Default:
            the SNN itself at ``T = 1`` (per-layer ANN energies ``E_MAC · MACs / T``);
            when ``counts.distinct_steps`` (every step a different sub-network, as
            T-RevSNN's columns) the twin runs every step's network once: ``E_MAC · MACs``.
    """
    if not isinstance(counts, OpCounts):
        raise TypeError(f"counts must be OpCounts, got {type(counts).__name__}")
    if ann_counts is not None and not isinstance(ann_counts, OpCounts):
        raise TypeError(f"ann_counts must be OpCounts or None, got {type(ann_counts).__name__}")
    p = get_preset(preset)
    steps = counts.steps
    twin_steps = 1 if counts.distinct_steps else steps  # how often the twin repeats a step
    layers = []
    for row in counts.per_sample():
        e_op = p.e_ac if row["kind"] == AC else p.e_mac
        twin = None if ann_counts is not None else p.e_mac * row["macs"] / twin_steps
        layers.append(LayerEnergy(snn_pj=e_op * row["sops"], ann_pj=twin, **row))
    snn = sum(layer.snn_pj for layer in layers)
    if ann_counts is None:
        ann = p.e_mac * counts.total_macs / twin_steps
    else:
        ann = p.e_mac * ann_counts.total_macs
    dense_per_step = counts.total_macs / steps
    # Σ IFR·OPS over spiking-input ops = Σ rate·T·(MACs/T) = their SOPs.
    spiking = sum(layer.sops for layer in layers if layer.kind == AC)
    norm_ops = spiking / dense_per_step if dense_per_step else 0.0
    return EnergyReport(p, steps, tuple(layers), snn, ann, norm_ops)
