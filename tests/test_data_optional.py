import pytest

from spikeforge.data._optional import optional_import


def test_missing_package_names_pip_install() -> None:
    with pytest.raises(ImportError, match=r"pip install not-a-real-pkg"):
        optional_import("no_such_module_xyz.sub", "testing", "not-a-real-pkg")
    assert optional_import("json", "testing").dumps([1]) == "[1]"
