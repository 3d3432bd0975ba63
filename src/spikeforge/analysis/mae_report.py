"""The report of a masked-image pretraining run (Spikformer V2, METHODS §13): for a few
test images, original / masked input / reconstruction side by side (one PNG, embedded as
a data URI), and the pretraining loss curve (inline SVG). One self-contained HTML file.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import numpy as np
import torch

from ..data._optional import optional_import
from .report import CSS
from .svg import line_chart

COLUMNS = ("original", "masked input", "reconstruction")
HEADER_PX = 16  # the column labels above the tiles


def comparison_image(
    columns: Sequence[torch.Tensor],
    labels: Sequence[str] = COLUMNS,
    tile: int = 96,
    gap: int = 2,
) -> Any:
    """A PIL image: one row per sample, one column per tensor of ``columns`` (each
    ``[N, C, H, W]`` in ``[0, 1]``, clipped; ``C`` 1 or 3), pixels enlarged by the whole
    factor that makes a tile about ``tile`` px wide (nearest), ``gap`` white pixels
    between tiles, and a header row naming the columns (``labels``)."""
    image_module = optional_import("PIL.Image", "the pretraining report's pictures", "pillow")
    draw_module = optional_import("PIL.ImageDraw", "the pretraining report's pictures", "pillow")
    if not columns:
        raise ValueError("comparison_image needs at least one column")
    if len(labels) != len(columns):
        raise ValueError(f"{len(columns)} columns but {len(labels)} labels")
    shape = tuple(columns[0].shape)
    if len(shape) != 4 or shape[1] not in (1, 3):
        raise ValueError(f"columns must be [N, C, H, W] with C 1 or 3, got shape {shape}")
    for column in columns:
        if tuple(column.shape) != shape:
            raise ValueError(f"every column must have shape {shape}, got {tuple(column.shape)}")
    n, c, h, w = shape
    scale = max(1, tile // w)
    th, tw, head = h * scale, w * scale, HEADER_PX
    height, width = head + n * th + (n + 1) * gap, len(columns) * tw + (len(columns) + 1) * gap
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for j, column in enumerate(columns):
        pixels = column.detach().float().clamp(0, 1).cpu()
        pixels = pixels.expand(n, 3, h, w) if c == 1 else pixels
        big = pixels.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
        tiles = (big.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
        for i in range(n):
            top, left = head + gap + i * (th + gap), gap + j * (tw + gap)
            canvas[top : top + th, left : left + tw] = tiles[i]
    image = image_module.fromarray(canvas, "RGB")
    draw = draw_module.Draw(image)
    for j, label in enumerate(labels):
        draw.text((gap + j * (tw + gap) + 2, 2), str(label), fill=(40, 40, 40))
    return image


def png_data_uri(image: Any) -> str:
    """``data:image/png;base64,...`` of a PIL image."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _loss_chart(history: Sequence[Mapping[str, Any]]) -> str:
    epochs = [float(r["epoch"]) for r in history]
    series = {}
    for key, label in (("train_loss", "train"), ("test_loss", "test")):
        values = [float(r.get(key) if r.get(key) is not None else math.nan) for r in history]
        if any(math.isfinite(v) for v in values):
            series[label] = (epochs, values)
    if not series:
        return '<p class="note">no loss recorded</p>'
    return line_chart(
        series, title="pretraining: reconstruction loss", xlabel="epoch", ylabel="loss"
    )


def render_mae_report(
    title: str,
    meta: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    image_uri: str | None,
) -> str:
    """The report HTML: ``meta`` table, the reconstructions picture (``image_uri``, as
    :func:`png_data_uri` makes it; columns :data:`COLUMNS`) and the loss curve of
    ``history`` (``[{"epoch", "train_loss", "test_loss"}, ...]``)."""
    rows = "".join(
        f"<tr><td>{escape(str(k))}</td><td>{escape(str(v))}</td></tr>" for k, v in meta.items()
    )
    parts = [
        f"<h1>{escape(title)}</h1>",
        f"<table><tr><th>key</th><th>value</th></tr>{rows}</table>",
    ]
    parts.append("<h2>Masked reconstructions (test images)</h2>")
    if image_uri:
        parts.append(
            f'<p class="note">columns: {" / ".join(COLUMNS)} (masked patches grey in the '
            "input; the reconstruction shows the predicted masked patches with the visible "
            "ones pasted from the original); the loss covers masked patches only</p>"
            f'<img alt="{" / ".join(COLUMNS)}" src="{image_uri}">'
        )
    else:
        parts.append('<p class="note">no pictures</p>')
    parts += ["<h2>Pretraining loss</h2>", _loss_chart(history)]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join(parts)
        + '\n<p class="note">Generated by spikeforge (self-contained: no scripts, no network).</p>'
        + "</body></html>\n"
    )
