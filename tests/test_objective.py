"""Your own objective from the command line and the Python API: `--objective FILE.py:FUNCTION`
(or MODULE:FUNCTION) with `--space`, `--fidelity-space`, `--metric`, `--direction`; the worked
example (experiments/examples/) scoped end to end at a tiny budget; Dask workers; bad input."""

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from ConfigSpace import ConfigurationSpace, Integer

import hpobench
from hpobench import records, spaces
from hpobench.benchmarks import BenchmarkError
from hpobench.experiments import cli, scope

EXAMPLE = Path(__file__).resolve().parents[1] / "experiments" / "examples"

OBJECTIVE = '''
import helper  # a module beside the file: importable here and in every worker

def fn(config, fidelity, seed):
    if config["x"] > 0.95:
        raise RuntimeError("x too large for this objective")
    return {"rmse": helper.bowl(config["x"], config["y"]) + 1.0 / fidelity["steps"], "calls": 1}

def number(config, fidelity, seed):
    return config["x"]

def wrong_name(config, fidelity, seed):
    return {"error": 1.0}

def two_args(config, fidelity):
    return 1.0

not_a_function = 3
'''


@pytest.fixture
def files(tmp_path):
    """An objective file (with a helper module beside it) and its two spaces."""
    (tmp_path / "obj.py").write_text(OBJECTIVE)
    (tmp_path / "helper.py").write_text("def bowl(x, y):\n    return (x - 0.3) ** 2 + 0.1 * y\n")
    cs = ConfigurationSpace({"x": (0.0, 1.0), "y": (0.0, 1.0)})
    fs = ConfigurationSpace()
    fs.add(Integer("steps", (1, 27), default=27))
    (tmp_path / "space.json").write_text(spaces.to_json(cs))
    (tmp_path / "fidelity.json").write_text(spaces.to_json(fs))
    return tmp_path


def _args(d: Path, fn="fn", metric="rmse", direction="minimize"):
    return ["--objective", f"{d / 'obj.py'}:{fn}", "--space", str(d / "space.json"),
            "--fidelity-space", str(d / "fidelity.json"), "--metric", metric, "--direction", direction]


# ---------------------------------------------------------------- the worked example, end to end

def test_the_example_is_scoped_end_to_end_by_one_command(tmp_path, capsys):
    out = tmp_path / "scope"
    argv = ["scope", "--objective", f"{EXAMPLE / 'sklearn_objective.py'}:objective",
            "--space", str(EXAMPLE / "space.json"), "--fidelity-space", str(EXAMPLE / "fidelity.json"),
            "--metric", "log_loss", "--direction", "minimize", "--metric-range", "0,",
            "--budget", "1", "--n-low", "20", "--n-probe", "15", "--out", str(out), "--quiet"]
    assert cli.main(argv) == 0
    assert "verdict:" in capsys.readouterr().out
    report = (out / "report.md").read_text()
    assert "- metric: log_loss (minimize in [0, inf])" in report and "best log_loss at the probe fidelity" in report
    assert "hpobench tune --objective" in report and "--direction minimize" in report
    df = pd.read_parquet(out / "evaluations.parquet")
    assert 20 + 15 <= len(df) <= 20 + 15 + scope.CONFIRM and (df["status"] == "ok").all()  # + the best at low
    assert df["accuracy"].between(0, 1).all()
    assert (df["value"] == df["metric.log_loss"]).all() and (df["cost"] < 0.1).all()
    meta = records.read_meta(out)
    assert meta["metric"] == {"name": "log_loss", "direction": "minimize", "lower": 0.0, "upper": None}
    # the record is analysable as it stands: its space and metric come from its meta.json
    assert cli.main(["importance", str(out / "evaluations.parquet"), "--n-boot", "5"]) == 0
    assert "learning_rate_init" in capsys.readouterr().out
    # and the scoped space is tuned the way the report says
    scoped = out / "scoped_space.json"
    argv = ["tune", "--objective", f"{EXAMPLE / 'sklearn_objective.py'}:objective", "--space", str(scoped),
            "--fidelity-space", str(EXAMPLE / "fidelity.json"), "--metric", "log_loss", "--direction", "minimize",
            "--optimizer", "hyperband", "--budget", "1.2", "--out", str(tmp_path / "tune"), "--quiet"]
    assert cli.main(argv) == 0
    assert "incumbent log_loss" in capsys.readouterr().out
    t = pd.read_parquet(tmp_path / "tune" / "trials.parquet")
    assert set(spaces.load(scoped)) <= {c[len("config."):] for c in t.columns if c.startswith("config.")}
    # resumes: nothing is run again
    assert cli.main(argv) == 0
    assert len(pd.read_parquet(tmp_path / "tune" / "trials.parquet")) == len(t)


# ---------------------------------------------------------------- CLI and Python API

@pytest.mark.slow  # tunes and scopes: seconds
def test_evaluate_tune_and_scope_a_file_objective(files, capsys):
    assert cli.main(["evaluate", *_args(files), "--fidelity", "steps=3", "--compact"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["status"] == "ok" and r["metrics"]["rmse"] == pytest.approx(0.2 ** 2 + 0.1 * 0.5 + 1 / 3)
    out = files / "run"
    assert cli.main(["tune", *_args(files), "--optimizer", "bohb", "--budget", "12", "--out", str(out),
                     "--quiet"]) == 0
    printed = capsys.readouterr().out
    t = pd.read_parquet(out / "trials.parquet")
    ok = t[t["full"] & (t["status"] == "ok")]
    assert f"incumbent rmse {ok['value'].min():.4g} (minimized)" in printed
    assert sorted(t["fidelity.steps"].unique()) == [1, 3, 9, 27]  # the only knob is the budget axis
    assert t["spent"].iloc[-1] <= 12  # cost: the fraction of the full fidelity (steps / 27)
    crashed = t[t["status"] == "crashed"]
    assert (crashed["error"].str.contains("x too large")).all()
    assert cli.main(["scope", *_args(files), "--budget", "6", "--n-low", "20", "--n-probe", "15",
                     "--out", str(files / "scope"), "--quiet"]) == 0
    assert "verdict:" in capsys.readouterr().out


def test_python_api(files):
    bench = hpobench.load_objective(f"{files / 'obj.py'}:fn", files / "space.json", files / "fidelity.json",
                                    metric="rmse", direction="minimize", lower=0)
    assert bench.metric == hpobench.Metric("rmse", "minimize", 0, None)
    assert bench.cost({"steps": 9}) == pytest.approx(1 / 3) and bench.cost(bench.full_fidelity) == 1
    run = hpobench.tune(bench, "smac", budget=5, seed=0)
    assert run.incumbent_value <= run.default_value and len(run.trials) == 5
    dec = scope.run(bench, 6, files / "scope", n_low=20, n_probe=15, progress=False, n_boot=10).decision
    assert set(dec.tune) <= {"x", "y"}


def test_a_number_a_module_and_another_metric(files, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(files))
    args = ["--objective", "obj:number", "--space", str(files / "space.json"),
            "--fidelity-space", str(files / "fidelity.json"), "--metric", "x_value", "--direction", "maximize",
            "--metric-range", "0,1"]
    assert cli.main(["evaluate", *args, "--compact"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["status"] == "ok" and r["metrics"] == {"x_value": 0.5} and math.isnan(r["f1"])


@pytest.mark.slow  # a 2-worker Dask cluster
def test_two_dask_workers_load_the_objective_themselves(files, tmp_path):
    bench = hpobench.load_objective(f"{files / 'obj.py'}:fn", files / "space.json", files / "fidelity.json",
                                    metric="rmse", direction="minimize")
    run = hpobench.tune(bench, "hyperband", budget=6, seed=0, workers=2, out=tmp_path / "run")
    t = run.trials
    assert set(t["worker"]) == {"0", "1"} and (t.loc[t["status"] == "ok", "metric.calls"] == 1).all()


# ---------------------------------------------------------------- bad input: clear errors before compute

@pytest.mark.parametrize("target, match", [
    ("{d}/missing.py:fn", "objective file not found"),
    ("{d}/obj.py:nope", "has no function 'nope'; functions there: \\['fn', 'number', 'two_args', 'wrong_name'\\]"),
    ("{d}/obj.py:not_a_function", "'not_a_function' is a int, not a function"),
    ("{d}/obj.py:two_args", "must take \\(config, fidelity, seed\\)"),
    ("{d}/broken.py:fn", "cannot import objective file .*SyntaxError"),
    ("{d}/obj.py", "expected FILE.py:FUNCTION or MODULE:FUNCTION"),
    ("no_such_module_hpobench:fn", "cannot import objective module 'no_such_module_hpobench'"),
    ("{d}/space.json:fn", "a Python file \\(.py\\) is needed"),
])
def test_bad_objective(files, target, match, capsys):
    (files / "broken.py").write_text("def fn(config, fidelity, seed)\n    return 1\n")
    argv = ["evaluate", "--objective", target.format(d=files), "--space", str(files / "space.json"),
            "--fidelity-space", str(files / "fidelity.json"), "--metric", "rmse", "--direction", "minimize"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert re.search(match, err), err


@pytest.mark.parametrize("change, match", [
    ({"--space": "{d}/none.json"}, "config space \\(--space\\): space file not found"),
    ({"--space": "{d}/obj.py"}, "config space \\(--space\\): .*not a valid ConfigSpace JSON"),
    ({"--fidelity-space": "{d}/none.json"}, "fidelity space \\(--fidelity-space\\): space file not found"),
    ({"--fidelity-space": "{d}/space.json"}, "are both hyperparameters"),
])
def test_bad_spaces(files, change, match, capsys):
    argv = _args(files)
    for flag, value in change.items():
        argv[argv.index(flag) + 1] = value.format(d=files)
    assert cli.main(["evaluate", *argv]) == 2
    assert re.search(match, capsys.readouterr().err)


@pytest.mark.parametrize("argv, match", [
    (["evaluate", "--objective", "X:fn"], "--objective needs --space, --fidelity-space, --metric, --direction"),
    (["evaluate"], "give a benchmark name"),
    (["evaluate", "synthetic/agree", "--metric", "rmse"], "--metric go with --objective"),
    (["tune", "synthetic/agree", "--fidelity-space", "f.json", "--optimizer", "random", "--budget", "81",
      "--out", "x"], "--fidelity-space go with --objective"),
])
def test_bad_command_lines(argv, match):
    with pytest.raises(SystemExit, match=match):
        cli.main(argv)


def test_bad_metric_flags(files, capsys):
    with pytest.raises(SystemExit, match="not both"):
        cli.main(["evaluate", "synthetic/agree", *_args(files)])
    with pytest.raises(SystemExit, match="bounds must be numbers"):
        cli.main(["evaluate", *_args(files), "--metric-range", "zero,1"])
    with pytest.raises(SystemExit, match="expects LO,HI"):
        cli.main(["evaluate", *_args(files), "--metric-range", "0"])
    with pytest.raises(SystemExit) as e:  # argparse: invalid choice
        cli.main(["evaluate", *_args(files, direction="up")])
    assert e.value.code == 2 and "invalid choice: 'up'" in capsys.readouterr().err
    assert cli.main(["evaluate", *_args(files), "--metric-range", "1,0"]) == 2
    assert "need lower < upper" in capsys.readouterr().err
    with pytest.raises(BenchmarkError, match="say whether to maximize or minimize"):
        hpobench.load_objective(f"{files / 'obj.py'}:fn", files / "space.json", files / "fidelity.json", "rmse")


def test_a_metric_missing_from_the_returned_dict_is_a_crashed_trial_saying_so(files, capsys):
    assert cli.main(["evaluate", *_args(files, fn="wrong_name"), "--compact"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["status"] == "crashed" and "returned metrics ['error'] but not 'rmse'" in r["error"]
    run = hpobench.tune(hpobench.load_objective(f"{files / 'obj.py'}:wrong_name", files / "space.json",
                                                files / "fidelity.json", "rmse", "minimize"), "random", budget=2)
    assert (run.trials["status"] == "crashed").all() and "not 'rmse'" in run.trials["error"].iloc[0]
