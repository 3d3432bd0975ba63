import dataclasses

import pytest

from spikeforge._registry import DESCRIPTION_WIDTH, Registry, summary_line


def test_register_get_create_and_names():
    reg: Registry = Registry("widget")

    @reg.register("b_one")
    def make_b(size: int = 1) -> tuple:
        return ("b", size)

    @reg.register()
    def a_default() -> str:
        return "a"

    assert reg.names() == ["a_default", "b_one"]
    assert reg.create("B_ONE", size=3) == ("b", 3)
    assert "a_default" in reg and "zzz" not in reg and len(reg) == 2


def test_duplicates_raise_and_unknown_names_list_choices():
    reg: Registry = Registry("widget")
    reg.register("x")(lambda: 1)
    with pytest.raises(ValueError, match="widget 'x' is already registered"):
        reg.register("x")(lambda: 2)
    with pytest.raises(ValueError, match="unknown widget 'y'; registered: x"):
        reg.get("y")
    with pytest.raises(TypeError, match="widget name must be a str"):
        reg.get(1)


def test_describe_gives_the_first_sentence_as_plain_text():
    reg: Registry = Registry("widget")

    @reg.register("doc")
    class Documented:
        """Wraps :class:`~torch.nn.Linear` over ``[T, B, F]`` (see e.g. the module doc).
        Second sentence of the same paragraph.

        Args: not part of the description.
        """

    @reg.register("bare")
    class Bare:
        pass

    @reg.register("data")
    @dataclasses.dataclass
    class Data:  # the dataclass writes __doc__ = "Data(x: int = 1)": not a description
        x: int = 1

    @reg.register("long")
    def long() -> None:
        """A description long enough that it must be cut somewhere past the width, at a
        word boundary, with an ellipsis at the end of what is left of it."""

    assert reg.describe("doc") == "Wraps Linear over [T, B, F] (see e.g. the module doc)."
    assert reg.describe("bare") == "" and reg.describe("data") == ""
    assert summary_line(long, width=40) == "A description long enough that it must…"
    assert len(reg.describe("long")) <= DESCRIPTION_WIDTH
    with pytest.raises(ValueError, match="unknown widget 'nope'"):
        reg.describe("nope")
