"""Every module's docstring examples run (`make doctest`); those needing data or training say `+SKIP`.

Modules are imported by their installed names (hpobench.analysis..., not the folder names), so the
examples run against the same objects a user gets; they run in the checkout root and write nowhere.
"""

import doctest
import importlib
import io

import pytest

from sources import ROOT, modules

EXAMPLES = sorted(name for name, path in modules().items() if ">>>" in path.read_text())
# hpobench.models runs the ResNet op by op: each op compiles (~20 s); hpobench.analysis fits ~60 boosted
# surrogates for its two-fidelity example (~5 s of CPU)
SLOW = {"hpobench.models", "hpobench.analysis"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in EXAMPLES])
def test_examples(name, monkeypatch):
    monkeypatch.chdir(ROOT)  # examples name checkout files (experiments/examples/...), as the README does
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    for test in doctest.DocTestFinder().find(importlib.import_module(name)):
        runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()
