"""Every docstring example in the package runs and prints what it says.

The examples are the documentation users copy; a broken one is a bug.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest


def _modules() -> list[str]:
    import kfp_governance.components
    import kfp_governance.pipelines

    names = {"kfp_governance.components", "kfp_governance.pipelines"}
    for package in (kfp_governance, kfp_governance.components, kfp_governance.pipelines):
        names.update(info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."))
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
