"""Trace an ANN into a ``torch.fx`` graph, or report why it must be walked module by module.

``torch.fx.symbolic_trace`` sees functional calls (``F.relu``, ``x + y``, ``torch.flatten``)
as well as modules, so the graph path converts functional ReLUs too. Models whose
``forward`` branches on tensor values cannot be traced; the pipeline then falls back
to walking ``named_modules()`` (see :mod:`.fold` and :mod:`.replace`), which sees
modules only and therefore warns that functional activations are invisible to it.
"""

from __future__ import annotations

import torch.fx as fx
from torch import nn


class _Tracer(fx.Tracer):
    """``fx.Tracer`` that records each node's source line (for error locations)."""

    def __init__(self) -> None:
        super().__init__()
        self.record_stack_traces = True


def trace(model: nn.Module) -> tuple[fx.GraphModule | None, str | None]:
    """``(graph_module, None)``, or ``(None, reason)`` if ``model`` cannot be traced."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"conversion needs an nn.Module, got {type(model).__name__}")
    try:
        tracer = _Tracer()
        graph = tracer.trace(model)
    except Exception as error:  # fx raises TraceError, TypeError, ... for dynamic code
        first = str(error).splitlines()[0] if str(error) else ""
        return None, f"{type(error).__name__}: {first[:200]}"
    return fx.GraphModule(tracer.root, graph, type(model).__name__), None


def _source_line(node: fx.Node) -> str:
    """``"file.py:LINE: code"`` of the user code that created ``node`` ('' if unknown)."""
    lines = (node.stack_trace or "").splitlines()
    for i, line in enumerate(lines):
        text = line.strip()
        if not text.startswith("File ") or "/torch/" in text or "\\torch\\" in text:
            continue
        parts = text.split('"')
        file = parts[1].rsplit("/", 1)[-1] if len(parts) > 2 else "?"
        number = text.split("line ")[-1].split(",")[0] if "line " in text else "?"
        code = lines[i + 1].strip() if i + 1 < len(lines) else ""
        return f"{file}:{number}: {code}" if code else f"{file}:{number}"
    return ""


def node_location(node: fx.Node) -> str:
    """Module path (module calls) or node name, with the source line that made the node."""
    where = str(node.target) if node.op == "call_module" else f"node {node.name!r}"
    source = _source_line(node)
    return f"{where} ({source})" if source else where
