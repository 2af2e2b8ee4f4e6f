"""The test tiers mean what they say. The `slow` mark (pyproject.toml): a test that compiles or trains, starts
a process or a Dask cluster, or runs a study harness or the scope job carries it, so `pytest -m "not slow"`
stays the inner loop. And `make test` installs what a test would otherwise skip for (`pytest.importorskip`).

Read statically from the test files: what a test does is what its body, the module's helper functions it calls
and the fixtures it asks for (its module's and conftest.py's) do, followed through. Calls made where an error is
expected (`with pytest.raises`, an exit code 2) fail before any compute and do not count. The telltales: a
Python process (`sys.executable`, the `hpobench` command) or a process pool; a Dask cluster (`LocalCluster`,
`Client`, `workers` > 1, a `scheduler`); a `jax.jit` or the program store (compiles); `train.run`, a ResNet
benchmark's `evaluate`, `cli evaluate|tune|grid resnet/...` (trains); a real dataset (`data.load`, the conftest
fixtures); the scope job (`scope.run`, `cli scope`); a study harness's `run`/`main`. A test slow for other
reasons (seconds of fitting) carries the mark by hand.
"""

import ast
import re
import tomllib
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
# module a test may skip without -> why `make test` does not install it (none: `make test` installs them all)
OPTIONAL: dict[str, str] = {}
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
    lists = {}  # argv = ["scope", ...]; cli.main(argv): every list a name is given
    for n in ast.walk(fn):
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.List):
            for t in n.targets:
                if isinstance(t, ast.Name):
                    lists.setdefault(t.id, []).append(n.value)
    nets = {t.id for n in ast.walk(fn) if isinstance(n, ast.Assign) and _resnet(n.value)
            for t in n.targets if isinstance(t, ast.Name)}  # bench = hpobench.get("resnet/...")
    found = []
    for node in (n for stmt in fn.body for n in ast.walk(stmt)):
        if id(node) in skip:
            continue
        name = _dotted(node)
        if name == "sys.executable":
            found.append("starts a Python process (sys.executable)")
        elif name.split(".")[-1] in ("LocalCluster", "Client"):
            found.append(f"starts a Dask cluster ({name.split('.')[-1]})")
        elif name.split(".")[-1] in ("Process", "Pool", "ProcessPoolExecutor", "get_context") and (
                name.split(".")[0] in ("multiprocessing", "mp", "futures", "concurrent")
                or aliases.get(name.split(".")[0], "").startswith(("multiprocessing", "concurrent"))):
            found.append(f"starts processes ({name})")
        if not isinstance(node, ast.Call):
            continue
        called = _dotted(node.func)
        head, _, attr = called.rpartition(".")
        module = aliases.get(head.split(".")[0], "") if head else ""
        module = ".".join([module, *head.split(".")[1:]]) if module else head
        if module == "subprocess" and node.args and isinstance(node.args[0], ast.List | ast.Tuple) and \
                node.args[0].elts and isinstance(node.args[0].elts[0], ast.Constant) and \
                node.args[0].elts[0].value == "hpobench":
            found.append(f"starts the hpobench command ({called})")
        if called in ("jax.jit", "jit") or (attr == "jit" and aliases.get(head, "") == "jax"):
            found.append(f"compiles ({called})")
        method = node.func.attr if isinstance(node.func, ast.Attribute) else ""  # also on a call: get(...).evaluate
        if method in ("evaluate", "fn") and (head in nets or _resnet(node.func.value)):
            found.append(f"trains a ResNet (.{method})")
        if module == "hpobench.data" and attr == "load":
            found.append(f"loads a dataset ({called})")
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
        first = node.args[0] if node.args else None
        for argv in lists.get(first.id, []) if isinstance(first, ast.Name) else [first]:
            if attr != "main" or not isinstance(argv, ast.List) or not argv.elts:
                continue
            verb = argv.elts[0]
            if isinstance(verb, ast.Constant) and verb.value == "scope":
                found.append("runs the scope job (cli scope)")
            elif isinstance(verb, ast.Constant) and verb.value in ("evaluate", "tune", "grid") and any(
                    isinstance(a, ast.Constant) and str(a.value).startswith("resnet/") for a in argv.elts):
                found.append(f"trains a ResNet (cli {verb.value})")
    return found


def _resnet(node) -> bool:
    """`hpobench.get("resnet/...")` (or any `get` of a ResNet benchmark by name)."""
    return (isinstance(node, ast.Call) and _dotted(node.func).rpartition(".")[2] == "get" and bool(node.args)
            and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).startswith("resnet/"))


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
    ("from hpobench.experiments import cli\ndef test_x():\n    argv = ['scope', 'x']\n    cli.main(argv)\n"
     "    argv = ['tune', 'x']\n    cli.main(argv)\n", "scope job"),  # a name given two lists
    ("def test_x(tiny_config):\n    pass\n", "trains"),
    ("from hpobench import programs\ndef test_x():\n    programs.compile_all(None)\n", "compiles"),
    ("from hpobench import programs\ndef test_x():\n    programs.STORE.get(None)\n", "compiles"),
    ("import jax\ndef test_x():\n    jax.jit(lambda x: x)(1.0)\n", "compiles"),
    ("import subprocess\ndef test_x():\n    subprocess.run(['hpobench', 'list'])\n", "hpobench command"),
    ("import multiprocessing\ndef test_x():\n    multiprocessing.Pool(2)\n", "starts processes"),
    ("from concurrent.futures import ProcessPoolExecutor\ndef test_x():\n    ProcessPoolExecutor(2)\n",
     "starts processes"),
    ("from distributed import Client\ndef test_x():\n    Client(n_workers=2)\n", "Dask"),
    ("import hpobench\ndef test_x():\n    b = hpobench.get('resnet/cifar10')\n    b.evaluate('default', {})\n",
     "trains a ResNet"),
    ("import hpobench\ndef test_x():\n    hpobench.get('resnet/cifar10').evaluate('default', {})\n",
     "trains a ResNet"),
    ("from hpobench.experiments import cli\ndef test_x():\n    cli.main(['evaluate', 'resnet/cifar10'])\n",
     "trains a ResNet"),
    ("from hpobench import data\ndef test_x():\n    data.load('cifar10')\n", "loads a dataset"),
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


def _requirement(spec: str) -> str:
    return re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].lower().replace("_", "-")


def installed_by_make_test(makefile: str, project: dict) -> set[str]:
    """Distributions `make test` installs: the package's dependencies and the extras its `pip install -e`
    lines name (`makefile`: the Makefile's text; `project`: pyproject.toml's [project] table)."""
    extras = {e for group in re.findall(r"pip install -q -e '\.\[([\w,-]+)\]'", makefile) for e in group.split(",")}
    return {_requirement(r) for r in project["dependencies"] + [r for e in extras
                                                                 for r in project["optional-dependencies"][e]]}


def would_skip(sources: dict[str, str], have: set[str]) -> list[str]:
    """`file: module` for each `pytest.importorskip(module)` in `sources` (name -> text) that `have` lacks."""
    out = []
    for name, text in sorted(sources.items()):
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and _dotted(node.func) == "pytest.importorskip":
                module = node.args[0].value.split(".")[0]
                if module not in OPTIONAL and module.lower().replace("_", "-") not in have:
                    out.append(f"{name}: {module}")
    return out


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_make_test_installs_what_a_test_would_skip_without():
    have = installed_by_make_test((ROOT / "Makefile").read_text(), _project())
    assert "pytest" in have, "no `pip install -q -e '.[EXTRAS]'` line with the test extra in the Makefile"
    skipped = would_skip({p.name: p.read_text() for p in TESTS.glob("test_*.py")}, have)
    assert not skipped, f"`make test` does not install these (add the extra to the Makefile or to OPTIONAL): {skipped}"


def test_the_install_check_sees_a_missing_extra():
    tests = {"test_a.py": "import pytest\ntorch = pytest.importorskip('torch')\n",
             "test_b.py": "import pytest\ndef test_x():\n    pytest.importorskip('syne_tune.optimizer')\n"}
    without = installed_by_make_test("\t$(BIN)/pip install -q -e '.[test]'\n", _project())
    assert would_skip(tests, without) == ["test_a.py: torch", "test_b.py: syne_tune"]
    full = installed_by_make_test("\t$(BIN)/pip install -q -e '.[test,peers,bench]'\n", _project())
    assert would_skip(tests, full) == []


def test_the_makefile_pins_torch_as_the_bench_extra_does():
    """The Makefile installs torch's CPU build first under its own pin: the same as the `bench` extra's."""
    pin = re.search(r"^TORCH := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    bench = _project()["optional-dependencies"]["bench"]
    assert pin and [pin.group(1)] == [r for r in bench if _requirement(r) == "torch"]
