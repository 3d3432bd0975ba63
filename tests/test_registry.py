import pytest

from spikeforge._registry import Registry


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
