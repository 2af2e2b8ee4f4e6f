"""The PyTorch worked example (experiments/examples/torch_objective.py): the objective at tiny
fidelities (metrics, determinism, divergence, the digits fallback), its docstring example, the
README's command, and a tiny scope end to end. Needs torch (the `bench` extra); slow tier."""

import doctest
import inspect
import json
import math
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("torch", reason="torch is not installed: pip install 'hpobench[bench]' (torch==2.13.0)")

from hpobench import spaces  # noqa: E402
from hpobench.benchmarks import objective as objectives  # noqa: E402
from hpobench.data import sources  # noqa: E402
from hpobench.experiments import cli  # noqa: E402
from hpobench.experiments import scope as scoping  # noqa: E402

pytestmark = pytest.mark.slow  # trains networks

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "experiments" / "examples"
TARGET = f"{EXAMPLE / 'torch_objective.py'}:objective"
SPACE, FIDELITY = EXAMPLE / "torch_space.json", EXAMPLE / "torch_fidelity.json"
TINY = {"epochs": 1, "data_fraction": 0.02, "resolution": 7}


@pytest.fixture(scope="module")
def bench():
    return objectives.load(TARGET, SPACE, FIDELITY, metric="f1", direction="maximize", lower=0, upper=1)


@pytest.fixture(scope="module")
def module(bench):
    return inspect.getmodule(bench.fn.resolve())


def test_spaces_are_the_documented_ones(bench):
    cs = bench.config_space
    assert len(list(cs)) == 11 and {c.child.name for c in cs.conditions} == {"momentum", "nesterov"}
    assert cs["learning_rate"].log and cs["batch_size"].log and cs["weight_decay"].log
    assert bench.full_fidelity == {"epochs": 10, "data_fraction": 1.0, "resolution": 28}
    assert bench.cost(TINY) == pytest.approx(1 / 10 * 0.02 * 7 / 28)


def test_objective_at_a_tiny_fidelity(bench, module):
    name = module.dataset()[0]
    assert name == ("fashion_mnist" if sources.find("fashion_mnist") else "digits")
    default = dict(bench.config_space.get_default_configuration())
    r = module.objective(default, TINY, 0)
    assert sorted(r) == ["accuracy", "f1", "loss"] and 0 < r["f1"] <= 1 and r["loss"] > 0
    assert module.objective(default, TINY, 0) == r  # deterministic given the seed
    assert module.objective(default, TINY, 1) != r
    # adamw: momentum and nesterov are inactive, so absent from the configuration
    adamw = {k: v for k, v in default.items() if k not in ("momentum", "nesterov")} | {
        "optimizer": "adamw", "learning_rate": 1e-3, "blocks": 3}
    assert 0 <= module.objective(adamw, TINY | {"resolution": 14}, 0)["f1"] <= 1
    # a learning rate far outside the space diverges: F1 NaN, recorded as `diverged` by the benchmark
    blown = module.objective(default | {"learning_rate": 1e12, "momentum": 0.99}, TINY, 0)
    assert math.isnan(blown["f1"])


def test_digits_fallback_without_fashion_mnist(module, monkeypatch, tmp_path):
    monkeypatch.setenv("HPOBENCH_FASHION_MNIST", str(tmp_path))  # an empty folder: not found
    module.dataset.cache_clear()
    module.inputs.cache_clear()
    try:
        name, x, y, x_val, y_val = module.dataset()
        assert name == "digits" and x.shape[1:] == (1, 8, 8) and len(y) + len(y_val) == 1797
        assert x.max() <= 1 and len(set(y.tolist())) == 10
        r = module.objective({"learning_rate": 0.05, "optimizer": "sgd", "momentum": 0.9, "nesterov": True,
                              "batch_size": 32, "weight_decay": 5e-4, "schedule": "cosine", "width": 8,
                              "blocks": 2, "dropout": 0.0, "label_smoothing": 0.0},
                             {"epochs": 3, "data_fraction": 1.0, "resolution": 16}, 0)  # enlarged 8 -> 16 px
        assert r["accuracy"] > 0.5, r  # 10 classes: chance is 0.1
    finally:
        module.dataset.cache_clear()
        module.inputs.cache_clear()


def test_docstring_example_runs(module, monkeypatch):
    monkeypatch.chdir(ROOT)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = doctest.DocTestFinder().find(module)
    assert sum(len(t.examples) for t in tests) >= 2
    for t in tests:
        runner.run(t)
    assert runner.failures == 0


def _readme_command() -> list[str]:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"^hpobench scope --objective experiments/examples/torch_objective\.py:objective.*?--out \S+",
                  text, re.S | re.M)
    assert m, "README.md lacks the torch example's scope command"
    return shlex.split(m.group(0).replace("\\\n", " "))[1:]


def test_readme_command_is_the_docstring_one_and_plans(module, bench):
    argv = _readme_command()
    assert " ".join(argv) in " ".join(module.__doc__.replace("\\\n", " ").split())
    args = cli.parser().parse_args(argv)
    assert (args.space, args.fidelity_space) == (str(SPACE.relative_to(ROOT)), str(FIDELITY.relative_to(ROOT)))
    sizes = {k: v for k, v in (("n_low", args.n_low), ("n_probe", args.n_probe)) if v is not None}  # else defaults
    p = scoping.plan(bench, args.budget, **sizes, confirm=scoping.CONFIRM)  # as the budget rule's scope plans
    assert p.cost <= args.budget and bench.cost(p.low) < bench.cost(p.probe)


def test_a_tiny_scope_end_to_end(tmp_path, capsys):
    out = tmp_path / "scope"
    argv = ["scope", "--objective", TARGET, "--space", str(SPACE), "--fidelity-space", str(FIDELITY),
            "--metric", "f1", "--direction", "maximize", "--metric-range", "0,1", "--budget", "0.016",
            "--n-low", "20", "--n-probe", "15", "--low", "epochs=1,data_fraction=0.01,resolution=7",
            "--probe", "epochs=1,data_fraction=0.02,resolution=7", "--n-boot", "10", "--out", str(out), "--quiet"]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.startswith("verdict: ")
    df = pd.read_parquet(out / "evaluations.parquet")
    assert 20 + 15 <= len(df) <= 20 + 15 + scoping.CONFIRM  # + the best at low, confirmed at the probe
    assert (df["status"] == "ok").all(), df["error"].dropna().tolist()
    assert set(df["fidelity.resolution"]) == {7} and df["f1"].between(0, 1).all()
    assert df["accuracy"].between(0, 1).all() and (df["loss"] > 0).all()
    assert json.loads((out / "meta.json").read_text())["metric"]["name"] == "f1"
    report = (out / "report.md").read_text()
    assert "- metric: f1 (maximize in [0, 1])" in report and "hpobench tune --objective" in report
    scoped = spaces.load(out / "scoped_space.json")
    assert set(scoped) <= set(spaces.load(SPACE))
    assert cli.main(["importance", str(out), "--n-boot", "5"]) == 0
    assert "learning_rate" in capsys.readouterr().out
