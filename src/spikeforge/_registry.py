"""Name -> object registries (decorator-registered), one per concern.

Every nameable thing (neuron, surrogate, encoder, objective, model, dataset, ...)
lives in a :class:`Registry` so configs and the CLI can name it, and adding one is
one decorated definition. Registering a name twice raises instead of silently
replacing the first entry. :meth:`Registry.describe` gives an entry's one-line
description (``spikeforge list KIND`` prints it next to the name).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: Longest description :meth:`Registry.describe` returns (longer ones end in "…").
DESCRIPTION_WIDTH = 100

# reST markup in docstrings -> plain text: :class:`~a.b.C` -> C, :func:`f` -> f, ``x`` -> x.
_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]*)``")
# A sentence ends at ". " before an upper-case letter (not after "e.g.", "i.e.", "et al.").
_SENTENCE_END = re.compile(r"(?<!e\.g)(?<!i\.e)(?<! al)(?<! vs)\.\s+(?=[A-Z])")


def summary_line(obj: Any, width: int = DESCRIPTION_WIDTH) -> str:
    """One-line description of ``obj`` from its own docstring ("" if it has none).

    The first sentence of the docstring's first paragraph, reST roles and literals
    reduced to plain text (``:class:`~a.B``` -> ``B``), cut at ``width`` characters on a
    word boundary. Only ``obj``'s own ``__doc__`` counts — not an inherited one, nor the
    signature a dataclass writes when its class has no docstring.
    """
    doc = getattr(obj, "__doc__", None)
    if not isinstance(doc, str):
        return ""
    generated = f"{getattr(obj, '__name__', '')}("  # what a dataclass writes without one
    if isinstance(obj, type) and dataclasses.is_dataclass(obj) and doc.startswith(generated):
        return ""
    paragraph = []
    for line in doc.strip().splitlines():
        if not line.strip():
            break
        paragraph.append(line.strip())
    text = " ".join(paragraph)
    text = _LITERAL.sub(r"\1", _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text))
    end = _SENTENCE_END.search(text)
    text = (text[: end.start() + 1] if end else text).strip()
    if len(text) > width:
        text = text[: width - 1].rsplit(" ", 1)[0].rstrip(",;:(") + "…"
    return text


class Registry(Generic[T]):
    """A named collection of factories (classes or functions).

    Args:
        kind: what the registry holds, used in error messages ("neuron", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator: ``@REG.register("lif")`` (``name`` defaults to ``obj.__name__``)."""

        def decorator(obj: T) -> T:
            key = (name or getattr(obj, "__name__", "")).lower()
            if not key:
                raise ValueError(f"cannot register an unnamed {self.kind}: pass name=")
            if key in self._entries:
                raise ValueError(
                    f"{self.kind} {key!r} is already registered "
                    f"(by {self._entries[key]!r}); choose another name"
                )
            self._entries[key] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """Return the factory registered as ``name`` (case-insensitive)."""
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a str, got {type(name).__name__}")
        try:
            return self._entries[name.lower()]
        except KeyError:
            raise ValueError(
                f"unknown {self.kind} {name!r}; registered: {', '.join(self.names())}"
            ) from None

    def create(self, name: str, /, **kwargs: Any) -> Any:
        """Build the entry ``name`` with keyword arguments."""
        factory = self.get(name)
        return factory(**kwargs)  # type: ignore[operator]

    def names(self) -> list[str]:
        """Sorted registered names."""
        return sorted(self._entries)

    def describe(self, name: str) -> str:
        """One-line description of the entry ``name``: the first sentence of its docstring
        (see :func:`summary_line`); ``""`` if it has none (a test requires one for every
        entry of the library's registries)."""
        return summary_line(self.get(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
