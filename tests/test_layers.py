"""Data flows one way (README, Layout): a module imports its own layer and lower ones, never a higher one.

Every import statement counts, including those inside functions (lazy imports are still dependencies).
"""

import ast

import pytest

from sources import ROOT, SETUPTOOLS, modules, package_dir

# Low to high. Helpers that import nothing of hpobench sit at the bottom; the kernels with the model
# that calls them; the package's __init__ is the public API, which may (lazily) reach the optimizers;
# the command line is in experiments, the top of the flow below the paper.
LAYERS = [
    ("helpers", ["hpobench.env", "hpobench.fidelity", "hpobench.heap", "hpobench.spaces", "hpobench.distributions",
                 "hpobench.export"]),
    ("data", ["hpobench.data"]),
    ("models", ["hpobench.models", "hpobench.onednn"]),
    ("train", ["hpobench.descent", "hpobench.programs", "hpobench.train"]),
    ("benchmarks", ["hpobench.benchmarks"]),
    ("records", ["hpobench.records"]),  # the run folder: spaces and metrics in, tune/grid/scope/analysis above
    ("optimizers", ["hpobench.optimizers", "hpobench"]),
    ("analysis", ["hpobench.analysis"]),
    ("experiments", ["hpobench.experiments"]),
    ("studies", ["hpobench.experiments.studies"]),
    ("paper", ["hpobench.paper"]),
]
RANK = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}
CLI = "hpobench.experiments.cli"
STUDIES = "hpobench.experiments.studies"  # research harnesses: nothing outside them imports one
OLD_NAMES = {"analysis", "experiments", "paper"}  # the folders' import names before they moved under hpobench
MODULES = modules()


def layer(module: str) -> int:
    """Rank of a module: its own entry, else its package's (`hpobench` itself only by exact name)."""
    parts = module.split(".")
    for i in range(len(parts), 1, -1):
        if ".".join(parts[:i]) in RANK:
            return RANK[".".join(parts[:i])]
    if module in RANK:
        return RANK[module]
    raise KeyError(f"{module} has no layer: add it to LAYERS in {__file__}")


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def imports(module: str, path) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file, relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _source(package, node)
            # `from hpobench import spaces` imports the module hpobench.spaces, not the package
            out += [(node.lineno, f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base) for a in node.names]
    return out


def _source(package: str, node: ast.ImportFrom) -> str:
    """The module a `from ... import` reads, relative ones resolved against `package`."""
    base = node.module or ""
    if node.level:
        up = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(up + ([base] if base else []))
    return base


def test_every_module_has_a_layer():
    for module in MODULES:
        layer(module)


def test_no_module_imports_a_higher_layer_or_the_cli():
    bad = []
    for module, path in MODULES.items():
        for line, target in imports(module, path):
            where = f"{path.relative_to(ROOT)}:{line}: {module}"
            if target.split(".")[0] in OLD_NAMES:
                bad.append(f"{where} imports {target!r}: it is hpobench.{target} now")
            elif target == CLI:
                bad.append(f"{where} imports the command line, the top of the flow")
            elif _under(target, STUDIES) and not _under(module, STUDIES):
                bad.append(f"{where} imports the research harness {target}: the product never does")
            elif target.startswith("hpobench") and layer(target) > layer(module):
                bad.append(f"{where} ({LAYERS[layer(module)][0]}) imports {target} ({LAYERS[layer(target)][0]})")
    assert not bad, "imports against the flow:\n" + "\n".join(bad)


def test_the_check_sees_lazy_and_relative_imports(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("def f():\n    from hpobench.analysis import decision\n    from . import base\n")
    assert imports("hpobench.benchmarks.x", f) == [(2, "hpobench.analysis.decision"), (3, "hpobench.benchmarks.base")]
    assert layer("hpobench.analysis.decision") > layer("hpobench.benchmarks.x")
    assert _under("hpobench.experiments.studies.stress", STUDIES) and not _under("hpobench.experiments.scope", STUDIES)
    with pytest.raises(KeyError, match="no layer"):
        layer("hpobench.newmodule")


def test_every_code_folder_is_an_installed_package():
    """A new subpackage must be listed in pyproject.toml, or the wheel silently lacks it; the research
    harnesses are the one folder the wheel leaves out on purpose."""
    listed = {package_dir(p) for p in SETUPTOOLS["packages"]}
    roots = {package_dir(p) for p in SETUPTOOLS["package-dir"]}
    found = {init.parent for root in roots for init in root.rglob("__init__.py")}
    studies = package_dir(STUDIES)
    assert studies not in listed, "the wheel ships the research harnesses"
    missing = {f for f in found - listed if f != studies and studies not in f.parents}
    assert not missing, f"not in [tool.setuptools] packages: {sorted(map(str, missing))}"


def test_the_harnesses_are_checked_too():
    """The layer check reads the harnesses although the wheel leaves them out."""
    assert any(m.startswith(STUDIES + ".") for m in MODULES)


# What the paper may take from the analysis: figures, queries on a trial table, and from the strategies'
# tables a constant and a formatter (None: the whole module). Never an estimator (importance, fANOVA,
# PED-ANOVA, agreement statistics, bootstrap, paired tests, ...): what needs a fit or resamples is written
# under results/ by a harness, and the paper reads it.
PAPER = "hpobench.paper"
PAPER_READS = {"hpobench.analysis.plots": None, "hpobench.analysis.trials": None,
               "hpobench.analysis.compare": {"NO_OPTIMIZER", "mean_se"}}


def estimates(module: str, path) -> list[str]:
    """What `module` takes from the analysis beyond PAPER_READS, as 'line: module[.name]'."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            taken = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _source(package, node)  # a module imported whole, or a name taken from one
            taken = [(f"{base}.{a.name}", None) if f"{base}.{a.name}" in MODULES else (base, a.name)
                     for a in node.names]
        else:
            continue
        for target, name in taken:
            allowed = PAPER_READS.get(target, False)
            if _under(target, "hpobench.analysis") and (allowed is False or (allowed is not None
                                                                              and name not in allowed)):
                out.append(f"{node.lineno}: {target}" + (f".{name}" if name else ""))
    return out


def test_the_paper_reads_results_and_estimates_nothing():
    bad = [f"{path.relative_to(ROOT)}:{e}" for module, path in MODULES.items() if _under(module, PAPER)
           for e in estimates(module, path)]
    assert any(_under(m, PAPER + ".sections") for m in MODULES), "the paper's sections are not read"
    assert not bad, "the paper imports an estimator (a harness computes it into results/):\n" + "\n".join(bad)


def test_the_paper_check_sees_an_estimator(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("from hpobench.analysis import plots, importance\nfrom hpobench.analysis.compare import mean_se\n"
                 "from hpobench.analysis.compare import versus_all\nimport hpobench.analysis.bootstrap\n"
                 "from hpobench.analysis import compare\n")
    assert estimates("hpobench.paper.sections.x", f) == ["1: hpobench.analysis.importance",
                                                         "3: hpobench.analysis.compare.versus_all",
                                                         "4: hpobench.analysis.bootstrap",
                                                         "5: hpobench.analysis.compare"]
