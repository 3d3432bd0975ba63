"""Name -> object registries (decorator-registered), one per concern.

Every nameable thing (neuron, surrogate, encoder, objective, model, dataset, ...)
lives in a :class:`Registry` so configs and the CLI can name it, and adding one is
one decorated definition. Registering a name twice raises instead of silently
replacing the first entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


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

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
