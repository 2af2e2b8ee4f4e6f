"""Every module's docstring examples run (`make doctest`); those needing data or training say `+SKIP`.

Modules are imported by their installed names (hpobench.analysis..., not the folder names), so the
examples run against the same objects a user gets.
"""

import doctest
import importlib
import io

import pytest

from sources import modules

EXAMPLES = sorted(name for name, path in modules().items() if ">>>" in path.read_text())
SLOW = {"hpobench.models"}  # runs the ResNet op by op: each op compiles (~20 s)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in EXAMPLES])
def test_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # whatever an example writes lands here
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    for test in doctest.DocTestFinder().find(importlib.import_module(name)):
        runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()
