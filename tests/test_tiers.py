"""The `slow` mark means what pyproject.toml says: a test that compiles or trains, starts a process or a Dask
cluster, or runs a study harness or the scope job carries it, so `pytest -m "not slow"` stays the inner loop.

Read statically from the test files: what a test does is what its body, the module's helper functions it calls
and the fixtures it asks for (its module's and conftest.py's) do, followed through. Calls made where an error is
expected (`with pytest.raises`, an exit code 2) fail before any compute and do not count.
"""

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
STUDIES = "hpobench.experiments.studies"  # the research harnesses
SCOPE = "hpobench.experiments.scope"  # the scope job
DATA_FIXTURES = {"cifar10", "fashion", "tiny_config"}  # conftest.py: a real dataset, a configuration to train
# test -> why it is fast although it looks heavy
EXCEPTIONS = {
    "test_gpu_check::test_without_a_gpu_it_says_so_and_exits_0": "the harness's no-GPU path: it finds no GPU and "
                                                                 "returns at once",
}


def _dotted(node) -> str:
    """`a.b.c` for an attribute chain or a name, else ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return ""


def _aliases(tree) -> dict[str, str]:
    """Local name -> module it stands for, from the module's imports (`from hpobench.experiments import scope`)."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {(a.asname or a.name).split(".")[0]: a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out |= {a.asname or a.name: f"{node.module}.{a.name}" for a in node.names}
    return out


def _expected_errors(body) -> set[int]:
    """ids of the nodes under `with pytest.raises(...)` and in `... == 2` comparisons (a refusal, no compute)."""
    out = set()
    for node in ast.walk(body):
        if isinstance(node, ast.With) and any(_dotted(getattr(i.context_expr, "func", None)) == "pytest.raises"
                                              for i in node.items):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
        if (isinstance(node, ast.Compare) and len(node.comparators) == 1 and isinstance(node.comparators[0],
                                                                                        ast.Constant)
                and node.comparators[0].value == 2):
            out |= {id(n) for n in ast.walk(node.left)}
    return out


def heavy(fn, aliases: dict[str, str]) -> list[str]:
    """What the function's own body does that makes a test slow (not followed into calls; its decorators,
    e.g. the cases of a parametrised test, are data)."""
    skip = _expected_errors(fn)
    lists = {t.id: n.value for n in ast.walk(fn) if isinstance(n, ast.Assign) and isinstance(n.value, ast.List)
             for t in n.targets if isinstance(t, ast.Name)}  # argv = ["scope", ...]; cli.main(argv)
    found = []
    for node in (n for stmt in fn.body for n in ast.walk(stmt)):
        if id(node) in skip:
            continue
        name = _dotted(node)
        if name == "sys.executable":
            found.append("starts a Python process (sys.executable)")
        elif name.split(".")[-1] == "LocalCluster":
            found.append("starts a Dask cluster (LocalCluster)")
        if not isinstance(node, ast.Call):
            continue
        called = _dotted(node.func)
        head, _, attr = called.rpartition(".")
        module = aliases.get(head.split(".")[0], "") if head else ""
        module = ".".join([module, *head.split(".")[1:]]) if module else head
        for kw in node.keywords:
            if kw.arg == "workers" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, int) \
                    and kw.value.value > 1:
                found.append(f"starts a Dask cluster ({called}(workers={kw.value.value}))")
            if kw.arg == "scheduler":
                found.append(f"uses a Dask cluster ({called}(scheduler=...))")
        if attr == "compile_all" or called == "train.run" or (
                head.rpartition(".")[2].lower() == "store" and attr in ("get", "prefetch")):
            found.append(f"compiles ({called})")  # hpobench.programs: builds training programs (prefetch: on a thread)
        if module.startswith(STUDIES + ".") and (attr in ("run", "main") or attr.startswith("run_")):
            found.append(f"runs a study harness ({module}.{attr})")
        if module == SCOPE and attr == "run":
            found.append(f"runs the scope job ({called})")
        argv = node.args[0] if node.args else None
        argv = lists.get(argv.id) if isinstance(argv, ast.Name) else argv
        if attr == "main" and isinstance(argv, ast.List) and argv.elts:
            verb = argv.elts[0]
            if isinstance(verb, ast.Constant) and verb.value == "scope":
                found.append("runs the scope job (cli scope)")
    return found


def _functions(tree) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _is_fixture(fn) -> bool:
    return any(_dotted(d.func if isinstance(d, ast.Call) else d) == "pytest.fixture" for d in fn.decorator_list)


def _marked_slow(node) -> bool:
    """`@pytest.mark.slow` on a function, or `pytestmark = pytest.mark.slow` (alone or in a list) in a module."""
    marks = node.decorator_list if isinstance(node, ast.FunctionDef) else [
        v for stmt in node.body if isinstance(stmt, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets)
        for v in (stmt.value.elts if isinstance(stmt.value, ast.List) else [stmt.value])]
    return any(_dotted(m.func if isinstance(m, ast.Call) else m) == "pytest.mark.slow" for m in marks)


def _params_slow(fn) -> bool:
    """Every case of a parametrised test is marked slow (`pytest.param(..., marks=pytest.mark.slow)`)."""
    for d in fn.decorator_list:
        if isinstance(d, ast.Call) and _dotted(d.func) == "pytest.mark.parametrize" and len(d.args) > 1:
            cases = d.args[1]
            if isinstance(cases, ast.List | ast.Tuple) and cases.elts and all(
                    isinstance(c, ast.Call) and _dotted(c.func) == "pytest.param"
                    and any(k.arg == "marks" and "slow" in ast.unparse(k.value) for k in c.keywords)
                    for c in cases.elts):
                return True
    return False


def unmarked(source: str, conftest: str = "") -> dict[str, list[str]]:
    """Tests in `source` that look heavy (followed through helpers and fixtures) but carry no slow mark."""
    tree, shared = ast.parse(source), ast.parse(conftest)
    aliases = _aliases(tree)
    local, common = _functions(tree), _functions(shared)
    fixtures = {n: f for n, f in common.items() if _is_fixture(f)} | {n: f for n, f in local.items() if _is_fixture(f)}
    own = {n: heavy(f, aliases) for n, f in local.items()} | {n: heavy(f, _aliases(shared))
                                                              for n, f in common.items() if n not in local}

    def reach(name: str, seen: set) -> list[str]:
        if name in seen:
            return []
        seen.add(name)
        fn = local.get(name) or common.get(name)
        found = list(own.get(name, []))
        found += [f"needs the fixture {p.arg}: it loads a dataset or trains" for p in fn.args.args
                  if p.arg in DATA_FIXTURES]
        callees = {n.func.id for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        for callee in sorted(callees & set(local) - {name}):
            found += [f"{why} (via {callee})" for why in reach(callee, seen)]
        for p in fn.args.args:
            if p.arg in fixtures:
                found += [f"{why} (via the fixture {p.arg})" for why in reach(p.arg, seen)]
        return found

    if _marked_slow(tree):
        return {}
    return {name: found for name, fn in local.items()
            if name.startswith("test_") and not _marked_slow(fn) and not _params_slow(fn)
            and (found := sorted(set(reach(name, set()))))}


def test_every_heavy_test_is_marked_slow():
    conftest = (TESTS / "conftest.py").read_text()
    bad = []
    for path in sorted(TESTS.glob("test_*.py")):
        for name, why in unmarked(path.read_text(), conftest).items():
            if f"{path.stem}::{name}" not in EXCEPTIONS:
                bad.append(f"{path.name}::{name}: " + "; ".join(why))
    assert not bad, "mark these @pytest.mark.slow (or list them in EXCEPTIONS with the reason):\n" + "\n".join(bad)


@pytest.mark.parametrize("body, why", [
    ("import subprocess, sys\ndef test_x():\n    subprocess.run([sys.executable, '-c', ''])\n", "Python process"),
    ("from distributed import LocalCluster\ndef test_x():\n    with LocalCluster() as c:\n        pass\n", "Dask"),
    ("import hpobench\ndef test_x():\n    hpobench.tune('a', 'b', budget=1, workers=2)\n", "Dask"),
    ("from hpobench.experiments.studies import agreement_study as s\n"
     "def _go(p):\n    return s.run(p)\n@pytest.fixture\ndef done(tmp_path):\n    return _go(tmp_path)\n"
     "def test_x(done):\n    pass\n", "study harness"),  # through a helper and a fixture
    ("from hpobench.experiments import scope\ndef test_x(tmp_path):\n    scope.run('s', 600, tmp_path)\n", "scope job"),
    ("from hpobench.experiments import cli\ndef test_x():\n    assert cli.main(['scope', 'x']) == 0\n", "scope job"),
    ("from hpobench.experiments import cli\ndef test_x():\n    argv = ['scope', 'x']\n    cli.main(argv)\n",
     "scope job"),
    ("def test_x(tiny_config):\n    pass\n", "trains"),
    ("from hpobench import programs\ndef test_x():\n    programs.compile_all(None)\n", "compiles"),
    ("from hpobench import programs\ndef test_x():\n    programs.STORE.get(None)\n", "compiles"),
])
def test_the_check_sees_each_kind_of_heavy_test(body, why):
    src = "import pytest\n" + body
    assert why in "; ".join(unmarked(src)["test_x"])
    marked = src.replace("def test_x", "@pytest.mark.slow\ndef test_x")
    assert unmarked(marked) == {}
    assert unmarked("import pytest\npytestmark = [pytest.mark.slow]\n" + body) == {}


def test_the_check_lets_refusals_before_compute_pass():
    src = ("import pytest\nfrom hpobench.experiments import cli, scope\n"
           "def test_x(tmp_path):\n    with pytest.raises(ValueError):\n        scope.run('s', 1, tmp_path)\n"
           "    assert cli.main(['scope', 's', '--budget', '1']) == 2\n")
    assert unmarked(src) == {}
